import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { setBackend, tf } from '@tessera/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { cli } from './cli-inprocess.js';
import { tempDir } from './helpers.js';

// Issue 9: every spec JSON and every flag value either builds (or passes the dry run) or is refused
// with a message naming the flag or the spec path; never a raw RangeError/TypeError or a wasm abort.

const RAW = /^(RangeError|TypeError|Error|RuntimeError|SyntaxError|ReferenceError):|memory access out of bounds|Aborted\(|Invalid typed array length|Maximum call stack|Cannot read propert/;

const weird = fc.constantFrom<unknown>(0, -1, 2.5, 1e9, 1e30, -1e30, '16', '', null, true, [], {}, 'NaN');
const spec = fc.record({
  imgSize: fc.oneof({ weight: 4, arbitrary: fc.constantFrom<unknown>(16, 32, [16, 24]) }, { weight: 1, arbitrary: weird }),
  patchSize: fc.oneof({ weight: 4, arbitrary: fc.constantFrom<unknown>(4, 8) }, { weight: 1, arbitrary: fc.oneof(weird, fc.constantFrom(3, 17, 1e6)) }),
  embedDim: fc.oneof({ weight: 4, arbitrary: fc.constantFrom<unknown>(8, 16) }, { weight: 1, arbitrary: fc.oneof(weird, fc.constantFrom(1e9, 4097)) }),
  depth: fc.oneof({ weight: 4, arbitrary: fc.constantFrom<unknown>(1, 2) }, { weight: 1, arbitrary: fc.oneof(weird, fc.constant(100_000)) }),
  numHeads: fc.oneof({ weight: 4, arbitrary: fc.constantFrom<unknown>(1, 2) }, { weight: 1, arbitrary: fc.oneof(weird, fc.constant(3)) }),
  block: fc.oneof({ weight: 6, arbitrary: fc.constant('transformer') }, { weight: 1, arbitrary: fc.constantFrom('transfromer', '', 'patch_embed', 'classifier', '__proto__') }),
  extraKey: fc.option(fc.constantFrom('imgsize', 'stages2', '__proto__'), { nil: undefined }),
});

function specJson(s: Record<string, unknown>): string {
  const value: Record<string, unknown> = {
    name: 'fuzz',
    imgSize: s.imgSize,
    stem: { block: 'patch_embed', options: { patchSize: s.patchSize, embedDim: s.embedDim } },
    stages: [{ block: 'class_token' }, { block: s.block, depth: s.depth, options: { numHeads: s.numHeads } }],
    head: { block: 'classifier', options: {} },
  };
  if (typeof s.extraKey === 'string') value[s.extraKey] = 1;
  return JSON.stringify(value);
}

const flagValue = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('1', '2', '0.1') }, { weight: 1, arbitrary: fc.constantFrom('0', '-1', '2.5', 'ten', '', '1e30', '1e9', 'NaN', 'Infinity', '0x10', ' 8', '1e-9') });
const flags = fc.dictionary(fc.constantFrom('--epochs', '--steps', '--batch-size', '--lr', '--min-lr', '--warmup-epochs', '--weight-decay', '--smoothing', '--clip-grad', '--drop-path', '--ema', '--crop-padding', '--seed', '--img-size', '--train-size', '--test-size', '--eval-batch-size', '--augment'), flagValue, { maxKeys: 2 });

beforeAll(async () => {
  await setBackend('wasm');
});

describe('fuzz: spec JSON and CLI flags', () => {
  const dir = tempDir('fuzz');

  test('train --dry-run: every input passes or is refused naming the flag or the spec path', async () => {
    let n = 0;
    const outcomes = [0, 0];
    await fc.assert(
      fc.asyncProperty(spec, flags, async (s, f) => {
        const path = join(dir, `spec-${n++}.json`);
        writeFileSync(path, specJson(s));
        const args = ['train', '--model', path, '--data', 'synthetic', '--train-size', '32', '--test-size', '16', '--batch-size', '8', ...Object.entries(f).flat(), '--backend', 'wasm', '--out', join(dir, `run-${n}`), '--dry-run', '--json', '--quiet'];
        const before = tf.memory().numTensors;
        const r = await cli(args);
        expect(tf.memory().numTensors, 'a dry run makes no tensor').toBe(before);
        expect([0, 1], r.err).toContain(r.code);
        outcomes[r.code]!++;
        if (r.code === 0) return;
        const { error } = r.json<{ error: string }>();
        expect(error).not.toMatch(RAW);
        // Named: a flag, a spec path, or (a resource refusal) the estimate against the backend's limit.
        expect(error, error).toMatch(/--[a-z-]+|stem|stages|head|imgSize|invalid model spec|unrecognized key|\(spec\)|needs .* more than/i);
      }),
      { numRuns: 60, seed: 9 },
    );
    // Both outcomes occur, so neither half of the property is vacuous.
    expect(outcomes[0]).toBeGreaterThan(5);
    expect(outcomes[1]).toBeGreaterThan(5);
  }, 600_000);

  test('info builds the model or refuses it, never with a raw error', async () => {
    let n = 0;
    let built = 0;
    await fc.assert(
      fc.asyncProperty(spec, async (s) => {
        const path = join(dir, `info-${n++}.json`);
        writeFileSync(path, specJson(s));
        const before = tf.memory().numTensors;
        const r = await cli(['info', path, '--backend', 'wasm', '--json']);
        expect(tf.memory().numTensors, 'info frees the model').toBe(before);
        if (r.code === 0) {
          built++;
          return;
        }
        const { error } = r.json<{ error: string }>();
        expect(error).not.toMatch(RAW);
        expect(error, error).toMatch(/stem|stages|head|imgSize|invalid model spec|--model|needs .* more than/);
      }),
      { numRuns: 25, seed: 11 },
    );
    expect(built).toBeGreaterThan(3);
  }, 600_000);
});
