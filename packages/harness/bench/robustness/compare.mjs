#!/usr/bin/env node
// Side-by-side table of two or more `tessera robustness` results (robustness.json files or their folders):
// clean top-1, mean accuracy per corruption (over the severities evaluated), mean corruption accuracy over the
// 15 common corruptions, retention (FAN's robustness measure: corruption accuracy / clean accuracy) and mCE.
//
//   node bench/robustness/compare.mjs runs/vit/robustness runs/fan/robustness > table.md
import { readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

function fail(message) {
  console.error(message);
  process.exit(2);
}

const files = process.argv.slice(2).map((p) => (statSync(p, { throwIfNoEntry: false })?.isDirectory() ? join(p, 'robustness.json') : p));
if (files.length < 2) fail('usage: compare.mjs <robustness.json or folder> <robustness.json or folder> [...]');
const results = files.map((f) => {
  let r;
  try {
    r = JSON.parse(readFileSync(f, 'utf8'));
  } catch (error) {
    fail(`${f}: cannot read it as JSON (${error.message})`);
  }
  if (r?.format !== 'tessera-robustness') fail(`${f}: not a tessera robustness result (format ${JSON.stringify(r?.format)})`);
  return r;
});
const pct = (x) => (x * 100).toFixed(1);
const names = results.map((r, i) => r.model ?? basename(files[i]));
const corruptions = results[0].corruptions.filter((c) => results.every((r) => r.corruptions.includes(c)));
const meanAccuracy = (r, c) => {
  const sev = Object.values(r.errors[c]);
  return 1 - sev.reduce((a, b) => a + b, 0) / sev.length;
};

const lines = [];
lines.push(`| corruption | ${names.join(' | ')} |`);
lines.push(`|---|${names.map(() => '---').join('|')}|`);
lines.push(`| clean | ${results.map((r) => pct(r.clean.top1)).join(' | ')} |`);
for (const c of corruptions) lines.push(`| ${c} | ${results.map((r) => pct(meanAccuracy(r, c))).join(' | ')} |`);
lines.push(`| **mean corruption accuracy** (15 common) | ${results.map((r) => pct(r.metrics.meanCorruptionAccuracy)).join(' | ')} |`);
lines.push(`| **retention** | ${results.map((r) => pct(r.metrics.retention)).join(' | ')} |`);
// mCE is the mean error itself without a baseline (the CIFAR-10-C convention) and the error ratio to the
// baseline run with one (`--baseline`), so the row says which.
const normalisation = (r) => (r.metrics.normalisation === 'baseline' ? `vs ${r.baseline?.model ?? 'baseline'}` : r.metrics.normalisation);
lines.push(`| mCE | ${results.map((r) => `${pct(r.metrics.mCE)} (${normalisation(r)})`).join(' | ')} |`);
console.log(lines.join('\n'));
