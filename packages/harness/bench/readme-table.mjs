// Regenerates the performance table in this package's README from a `pnpm bench`
// result file (default: the newest bench-results/bench-*.json) and keeps a copy of
// that file as bench/results.json, so the README's numbers stay traceable.
// Usage: node bench/readme-table.mjs [bench-results/bench-<time>.json]
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const resultsDir = join(here, '..', 'bench-results');
const file =
  process.argv[2] ??
  join(
    resultsDir,
    readdirSync(resultsDir)
      .filter((f) => /^bench-\d.*\.json$/.test(f))
      .sort()
      .pop(),
  );
const r = JSON.parse(readFileSync(file, 'utf8'));
const f1 = (x) => (x === undefined ? '–' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const ratio = (x) => (x === undefined ? '–' : `${x.toFixed(2)}×`);
const mib = (b) => (b === undefined ? '–' : `${(b / 2 ** 20).toFixed(0)} MiB`);
const loads = (...xs) => xs.filter(Boolean).map((l) => l[0]).join('→');

const lines = [
  `Measured ${r.date.slice(0, 16).replace('T', ' ')} UTC on ${r.cpus} × ${r.cpuModel}, Node ${r.node}, backend ${r.backend} (matrix products: ${r.nativeMatMul?.active ? r.nativeMatMul.provider : 'tfjs'}), ${r.workers} workers; ` +
    `load average ${r.loadAtStart[0]} at start, ${r.loadAtEnd[0]} at end (the machine is shared: compare ratios, not absolute numbers). Source: \`bench/results.json\`.`,
  '',
  '| model | params | train img/s, 1 thread | train img/s, workers (speedup) | infer img/s, 1 thread | infer img/s, workers (speedup) | PyTorch train / infer img/s | ratio train / infer (best of 1 thread and workers) | peak tensor memory (train step) | tensors leaked per step |',
  '|---|---|---|---|---|---|---|---|---|---|',
];
for (const run of r.runs) {
  if (run.skipped) {
    lines.push(`| ${run.label} | – | – | – | – | – | – | – | – | ${run.skipped} |`);
    continue;
  }
  const t = run.torch?.train ? `${f1(run.torch.train.imagesPerSecond)} / ${f1(run.torch.infer.imagesPerSecond)} (batch ${run.torch.train.batch}/${run.torch.infer.batch})` : `skipped: ${run.torch?.skipped}`;
  const par = run.trainParallel ? `${f1(run.trainParallel.imagesPerSecond)} (${run.parallelSpeedup.toFixed(2)}×)` : '–';
  // Results from before parallel evaluation have no inference-with-workers column.
  const inferPar = run.inferParallel ? `${f1(run.inferParallel.imagesPerSecond)} (${run.inferParallelSpeedup.toFixed(2)}×)` : '–';
  lines.push(
    `| ${run.label} | ${(run.params / 1e6).toFixed(2)} M | ${f1(run.train.imagesPerSecond)} (batch ${run.train.batch}) | ${par} | ${f1(run.infer.imagesPerSecond)} (batch ${run.infer.batch}) | ${inferPar} | ${t} | ${ratio(run.ratioToTorch?.train)} / ${ratio(run.ratioToTorch?.infer)} | ${mib(run.peakTensorBytes)} | ${run.tensorGrowthPerStep} |`,
  );
}
lines.push('');
for (const g of r.growthByFamily ?? (r.growth ? [r.growth] : [])) lines.push(`Tensor-count growth over ${g.steps} training steps of a ${g.model} model (batch ${g.batch}): **${g.growth}**.`, '');
if (r.geluKernel) {
  const g = r.geluKernel;
  lines.push(
    `GELU on wasm, forward + gradient on [${g.shape.join(', ')}] (the DeiT-Tiny-sized model's MLP activations at batch 32): tfjs composite ${g.compositeMs.toFixed(1)} ms, core's SIMD kernel ${g.kernelMs.toFixed(1)} ms (${g.speedup.toFixed(2)}×; largest difference ${g.maxAbsDiff.toExponential(1)}).`,
    '',
  );
}
const deit = r.runs.find((x) => x.profile && x.label.startsWith('DeiT'));
if (deit) {
  lines.push(
    `Where a ${deit.label} training step goes on ${r.backend} (tf.profile, share of kernel time): ${deit.profile.kernels
      .slice(0, 8)
      .map((k) => `${k.name} ${(k.share * 100).toFixed(0)}%`)
      .join(', ')}.`,
    '',
  );
}
if (r.pipeline) {
  lines.push('| data pipeline at 224 px (batch 64, crop + flip + normalise) | loader img/s | decode + resize at open, img/s | loader ÷ t2t_vit_7 training |', '|---|---|---|---|');
  for (const [name, p] of Object.entries(r.pipeline)) {
    lines.push(`| ${name} | ${f1(p.loaderImagesPerSecond)} | ${f1(p.openImagesPerSecond)} | ${r.pipelineOverTraining224 ? `${r.pipelineOverTraining224[name].toFixed(0)}×` : '–'} |`);
  }
  lines.push('');
}
const blas = r.runs.find((x) => x.torch?.blas)?.torch.blas;
if (blas) lines.push(`PyTorch ${r.runs.find((x) => x.torch?.torch)?.torch.torch} loaded ${blas.map((b) => b.split('/').slice(-2).join('/')).join(', ') || 'no separate BLAS'}; ${r.runs.find((x) => x.torch?.threads)?.torch.threads} threads.`);
lines.push(`Peak RSS of the benchmark process: ${mib(r.peakRssBytes)}. Per-measurement load averages are in the JSON (\`load\` fields): ${r.runs.filter((x) => x.train).map((x) => `${x.label} ${loads(x.train.load.before, x.train.load.after)}`).join(', ')}.`);

const readme = join(here, '..', 'README.md');
const text = readFileSync(readme, 'utf8');
const start = '<!-- bench-table:start (generated by bench/readme-table.mjs) -->';
const end = '<!-- bench-table:end -->';
const a = text.indexOf(start);
const b = text.indexOf(end);
if (a < 0 || b < a) throw new Error(`README.md lacks the markers ${start} … ${end}`);
writeFileSync(readme, `${text.slice(0, a + start.length)}\n${lines.join('\n')}\n${text.slice(b)}`);
copyFileSync(file, join(here, 'results.json'));
console.log(`README table regenerated from ${file}`);
