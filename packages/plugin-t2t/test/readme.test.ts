import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createModel, setBackend, tf, torchStateDict, use, type VisionModel } from '@tessera/core';
import { saveSafetensors } from '@tessera/core/node';
import { t2tPlugin } from '../src/index.js';

// The README's ```ts usage block runs as written (read from README.md, so the two cannot drift), with the package
// import pointed at the sources. Its one free name, `checkpointPath`, is given; its results are exported to the test.
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const dir = mkdtempSync(join(tmpdir(), 't2t-readme-'));
const exampleFile = fileURLToPath(new URL('./.readme-example.ts', import.meta.url));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(exampleFile, { force: true });
});

describe('README usage', () => {
  it('has one usage example', () => expect(blocks).toHaveLength(1));

  it('runs as written: the shapes its comments state, and the checkpoint it loads reproduces the source model', async () => {
    // Stand-in for a converted official checkpoint: the official names and PyTorch layouts, written by a seeded model.
    await setBackend('wasm');
    use(t2tPlugin);
    const checkpointPath = join(dir, 't2t_vit_7.safetensors');
    const official = createModel('t2t_vit_7', { qkScale: 'embed', seed: 11 });
    const officialState = torchStateDict(official);
    await saveSafetensors(checkpointPath, officialState);
    tf.dispose(Object.values(officialState));

    const code = blocks[0]!.replaceAll("from '@tessera/plugin-t2t'", "from '../src/index.js'");
    writeFileSync(exampleFile, `const checkpointPath = ${JSON.stringify(checkpointPath)};\n${code}\nexport { model, logits, hybrid, hybridLogits, pretrained, tensors };\n`);
    const ex = (await import(exampleFile)) as {
      model: VisionModel;
      logits: tf.Tensor;
      hybrid: VisionModel;
      hybridLogits: tf.Tensor;
      pretrained: VisionModel;
      tensors: Record<string, tf.Tensor>;
    };
    expect(ex.logits.shape).toEqual([2, 10]);
    expect(ex.hybridLogits.shape).toEqual([2, 10]);
    const images = tf.randomNormal([1, 224, 224, 3]) as tf.Tensor4D;
    const [a, b] = [official.predict(images), ex.pretrained.predict(images)];
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([ex.logits, ex.hybridLogits, images, a, b, ...Object.values(ex.tensors)]);
    for (const m of [ex.model, ex.hybrid, ex.pretrained, official]) m.dispose();
  });
});
