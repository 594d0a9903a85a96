import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { FormatError, setBackend, tf } from '@tessera/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { openDataset, SyntheticDataset } from '../src/data/index.js';
import { buildModel, checkModel, measureRepeatedBlocks, resolveModelRef } from '../src/model.js';
import { loadPlugins } from '../src/plugins.js';
import { cli } from './cli-inprocess.js';
import { tempDir, tessera, TINY_SPEC } from './helpers.js';

// Issue 9, items 4, 5, 6 and 7: hostile or damaged files cost bounded memory, absurd sizes are
// refused before allocation with the estimate and the limit, only declared plugins run, and a
// spec is validated the same way by every command.

const RECORD = 3073;
const peakRss = () => process.resourceUsage().maxRSS * 1024;

beforeAll(async () => {
  await setBackend('wasm');
});

describe('4. data readers: regular files only, bounded reads, the path in every error', () => {
  test('a CIFAR gzip bomb is inflated only as far as --train-size needs', async () => {
    const dir = tempDir('bomb');
    // 200 MB of records (label 0, black pixels) in a file of about 200 KB.
    writeFileSync(join(dir, 'data_batch_1.bin.gz'), gzipSync(Buffer.alloc(65_000 * RECORD), { level: 9 }));
    const before = peakRss();
    const train = await openDataset(`cifar10:${dir}`, { split: 'train', size: 8 });
    expect(train.length).toBe(8);
    expect(peakRss() - before).toBeLessThan(64 * 1024 * 1024);
    // Without a size, a file that inflates past any real CIFAR batch is refused.
    await expect(openDataset(`cifar10:${dir}`, { split: 'train' })).rejects.toThrow(/data_batch_1\.bin\.gz holds more than 60000 records/);
  });

  test('a data file that is a symlink to /dev/zero, or a named pipe, is refused with its path instead of read forever', async () => {
    const zeroDir = tempDir('zero');
    symlinkSync('/dev/zero', join(zeroDir, 'data_batch_1'));
    await expect(openDataset(`cifar10:${zeroDir}`, { split: 'train', size: 8 })).rejects.toThrow(`${join(zeroDir, 'data_batch_1')} is a device`);
    const fifoDir = tempDir('fifo');
    execFileSync('mkfifo', [join(fifoDir, 'train-images-idx3-ubyte')]);
    writeFileSync(join(fifoDir, 'train-labels-idx1-ubyte'), Buffer.from([0, 0, 8, 1, 0, 0, 0, 0]));
    await expect(openDataset(`mnist:${fifoDir}`, { split: 'train' })).rejects.toThrow(`${join(fifoDir, 'train-images-idx3-ubyte')} is a named pipe`);
  }, 20_000);

  test('a directory named x.png is refused with its path (not a bare EISDIR)', async () => {
    const root = tempDir('folder');
    for (const split of ['train', 'test']) mkdirSync(join(root, split, 'cat', 'x.png'), { recursive: true });
    const error = await openDataset(`folder:${root}`, { split: 'train' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect((error as Error).message).toContain(`${join(root, 'train', 'cat', 'x.png')} is a directory`);
  });

  test('a run refused by its data leaves no run folder behind, and names the file with its kind', async () => {
    const root = tempDir('refused-data');
    for (const split of ['train', 'test']) mkdirSync(join(root, split, 'cat', 'x.png'), { recursive: true });
    const out = join(tempDir('refused-run'), 'run');
    const r = await cli(['train', '--model', TINY_SPEC, '--data', `folder:${root}`, '--steps', '1', '--batch-size', '8', '--backend', 'wasm', '--out', out, '--json']);
    expect(r.code, r.err).toBe(1);
    expect(r.json<{ error: string }>().error).toBe(`${join(root, 'train', 'cat', 'x.png')} is a directory; a PNG or JPEG image must be a regular file`);
    expect(existsSync(out), 'the folder the refused run made is removed').toBe(false);
  });

  test('11. a folder dataset without train/ and test/ is refused, saying how to lay it out', async () => {
    const root = tempDir('flat');
    mkdirSync(join(root, 'cat'));
    await expect(openDataset(`folder:${root}`, { split: 'test' })).rejects.toThrow(/needs separate training and test images, laid out as <dir>\/train\/<class>.*no train\/ folder/);
    mkdirSync(join(root, 'train', 'cat'), { recursive: true });
    await expect(openDataset(`folder:${root}`, { split: 'test' })).rejects.toThrow(/has train\/ but no test\/ or val\//);
  });
});

describe('5. resources are estimated before allocation', () => {
  const refusal = async (args: string[]) => {
    const r = await cli(['train', ...args, '--backend', 'wasm', '--out', join(tempDir('huge'), 'run'), '--json']);
    expect(r.code, r.err).toBe(1);
    return r.json<{ error: string }>().error;
  };
  const spec = (change: (s: Record<string, any>) => void) => {
    const s = { name: 'tiny_vit', imgSize: 16, stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 16 } }, stages: [{ block: 'class_token' }, { block: 'transformer', depth: 2, options: { numHeads: 2 } }], head: { block: 'classifier', options: {} } };
    change(s);
    const path = join(tempDir('spec'), 'spec.json');
    writeFileSync(path, JSON.stringify(s));
    return path;
  };

  test('--img-size 4096 on deit_tiny: the estimate and the 4 GiB wasm heap are named', async () => {
    expect(await refusal(['--model', 'deit_tiny_patch16_224', '--img-size', '4096'])).toMatch(/a training step at batch size 64 .* needs at least [\d.]+ [GT]iB, more than the 4 GiB wasm heap/);
  });

  test('flexivit_large cannot train on wasm at any size: refused before building, with the estimate, the limit and the backends that can', async () => {
    // 303 M parameters x 16 bytes (weights, gradients, AdamW's two moments) = 4.5 GiB > the 4 GiB heap.
    const out = join(tempDir('flexl'), 'run');
    const r = await cli(['train', '--model', 'flexivit_large', '--img-size', '32', '--steps', '1', '--data', 'synthetic', '--train-size', '4', '--test-size', '4', '--batch-size', '2', '--backend', 'wasm', '--out', out, '--json']);
    expect(r.code, r.err).toBe(1);
    const error = r.json<{ error: string }>().error;
    expect(error).toMatch(/^flexivit_large at 32x32: a training step at batch size 2 .* needs at least [\d.]+ GiB, more than the 4 GiB wasm heap/);
    expect(error).toMatch(/parameters, gradients and AdamW moments alone need at least 4\.5\d GiB, so no --batch-size or --img-size fits the wasm backend/);
    expect(error).toMatch(/--backend cpu .*--backend webgpu or tensorflow-gpu/);
    expect(existsSync(out), 'a refused run creates no run folder').toBe(false);
  });

  test('a spec with depth 10000 or embedDim 1e9 is refused before it is built', async () => {
    expect(await refusal(['--model', spec((s) => (s.stages[1].depth = 10000))])).toMatch(/activations of 10003 blocks .* needs at least [\d.]+ [GT]iB, more than the 4 GiB wasm heap/);
    expect(await refusal(['--model', spec((s) => (s.stem.options.embedDim = 1e9))])).toMatch(/the model \(at least [\d,]+ parameters\) needs at least [\d.]+ [GT]iB, more than the 4 GiB wasm heap/);
  });

  test("deit_tiny's blocks 10000 deep at 32 px and batch 8: refused by the parameters of one block built and counted 10000 times", async () => {
    // Small activations (5 tokens, batch 8) fit; the parameters do not: 10000 blocks x 444,864 (qkv 111,168, proj 37,056,
    // two norms 768, fc1 148,224, fc2 147,648) plus the width-change bound of stem and head, 3·192 + 192·1000 = 192,576.
    const out = join(tempDir('deep'), 'run');
    const deep = spec((s) => {
      s.imgSize = 32;
      s.stem.options = { patchSize: 16, embedDim: 192 };
      s.stages[1] = { block: 'transformer', depth: 10000, options: { numHeads: 3 } };
    });
    const r = await cli(['train', '--model', deep, '--batch-size', '8', '--backend', 'wasm', '--out', out, '--json']);
    expect(r.code, r.err).toBe(1);
    expect(r.json<{ error: string }>().error).toMatch(/the model \(at least 4,448,832,576 parameters\) needs at least 16\.6 GiB, more than the 4 GiB wasm heap/);
    expect(existsSync(out), 'a refused run creates no run folder').toBe(false);
  });

  test('the estimate counts repeated blocks: never above the built count, and within 10% of it for deit_tiny', async () => {
    await loadPlugins([]);
    for (const name of ['deit_tiny_patch16_224', 't2t_vit_7', 'fan_tiny_12_p16_224', 'uniformer_small', 'flexivit_small']) {
      const ref = await resolveModelRef(name);
      const overrides = { imgSize: 32, numClasses: 10 };
      const before = tf.memory().numTensors;
      const measured = measureRepeatedBlocks(checkModel(ref, overrides)).params;
      expect(tf.memory().numTensors, `${name}: the blocks built to count are freed`).toBe(before);
      const model = buildModel(ref, overrides);
      const exact = model.numParameters();
      model.dispose();
      expect(measured, name).toBeLessThanOrEqual(exact);
      expect(measured, name).toBeGreaterThan(0);
      if (name === 'deit_tiny_patch16_224') expect(measured / exact).toBeGreaterThan(0.9);
    }
  });

  test('--train-size 1e9 and --test-size 1e9 are refused with the dataset estimate', async () => {
    expect(await refusal(['--model', TINY_SPEC, '--train-size', '1000000000'])).toMatch(/--train-size 1000000000: synthetic would need [\d.]+ GiB .* more than/);
    expect(await refusal(['--model', TINY_SPEC, '--test-size', '1000000000'])).toMatch(/--test-size 1000000000: synthetic would need/);
  });

  test('info refuses what one forward pass cannot fit', async () => {
    const r = await cli(['info', 'deit_tiny_patch16_224', '--img-size', '4096', '--backend', 'wasm', '--json']);
    expect(r.code).toBe(1);
    expect(r.json<{ error: string }>().error).toMatch(/evaluation at batch size 1 needs .* more than the 4 GiB wasm heap/);
  });

  test('a synthetic set allocates only the images it serves', () => {
    const before = process.memoryUsage().arrayBuffers;
    const data = new SyntheticDataset({ split: 'train', imgSize: 16, size: 300_000 }); // 230 MB if cached up front
    data.example(0);
    data.example(299_999);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * 1024 * 1024);
  });
});

describe('6. plugins: only what the project declares, and --plugin', () => {
  const plugin = (root: string, name: string, marker: string) => {
    const dir = join(root, 'node_modules', '@tessera', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `@tessera/${name}`, version: '1.0.0', type: 'module', exports: './index.js' }));
    writeFileSync(
      join(dir, 'index.js'),
      `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\nexport default { name: '${name}', version: '1.0.0', coreRange: '*', models: {} };\n`,
    );
  };

  test('a package dropped in a parent folder never runs; a declared one is loaded and listed', async () => {
    const root = tempDir('parent');
    const marker = join(root, 'evil-ran');
    plugin(root, 'plugin-evil', marker);
    const project = join(root, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'project', private: true }));
    const r = tessera(['models'], { cwd: project });
    expect(r.status, r.stderr).toBe(0);
    const { existsSync } = await import('node:fs');
    expect(existsSync(marker)).toBe(false);
    expect(r.stdout).toMatch(/plugins loaded:\n {2}@tessera\/core [\d.]+ \(built in\)\n/);
    // The harness depends on no plugin: a project that declares none gets core's blocks and the harness's own only.
    expect(r.stdout).not.toMatch(/@tessera\/plugin-t2t/);
    expect(r.stdout).not.toMatch(/plugin-evil/);

    const declaring = join(root, 'declaring');
    mkdirSync(declaring);
    writeFileSync(join(declaring, 'package.json'), JSON.stringify({ name: 'declaring', private: true, dependencies: { '@tessera/plugin-good': '1.0.0' } }));
    const goodMarker = join(root, 'good-ran');
    plugin(declaring, 'plugin-good', goodMarker);
    const d = tessera(['models'], { cwd: declaring });
    expect(d.status, d.stderr).toBe(0);
    expect(existsSync(goodMarker)).toBe(true);
    expect(d.stdout).toMatch(/ plugin-good 1\.0\.0 from @tessera\/plugin-good \(.*declared in .*declaring\/package\.json\)/);
  });
});

describe('7. every command validates a spec the same way, before any tensor', () => {
  test('imgSize "32" is refused by train, eval and info alike, naming the spec path', async () => {
    const path = join(tempDir('img'), 'spec.json');
    writeFileSync(path, JSON.stringify({ name: 's', imgSize: '32', stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 16 } }, stages: [], head: { block: 'classifier', options: {} } }));
    for (const args of [
      ['train', '--model', path, '--out', join(tempDir('img'), 'run')],
      ['eval', '--model', path],
      ['info', path],
    ]) {
      const r = await cli([...args, '--backend', 'wasm', '--json']);
      expect(r.code, args[0]).toBe(1);
      expect(r.json<{ error: string }>().error, args[0]).toMatch(/--model .*spec\.json: invalid model spec:\s+imgSize: /);
    }
  });
});
