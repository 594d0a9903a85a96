import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createModel, createModelFromSpec, loadSafetensors, saveSafetensors, setBackend, tf, torchStateDict, use } from '@tessera/core';
import { loadT2TStateDict, t2tPlugin, type T2TViT } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 't2t-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README usage', () => {
  it('runs as written', async () => {
    // Stand-in for a converted official checkpoint: the official names and PyTorch layouts, written by a seeded model.
    const checkpointPath = join(dir, 't2t_vit_7.safetensors');
    await setBackend('wasm');
    use(t2tPlugin);
    const official = createModel('t2t_vit_7', { qkScale: 'embed', seed: 11 });
    const officialState = torchStateDict(official);
    await saveSafetensors(checkpointPath, officialState);
    tf.dispose(Object.values(officialState));

    // --- README code ---
    await setBackend('wasm');
    use(t2tPlugin);

    // 1. A named model (options: imgSize, numClasses, dropPathRate, seed, qkScale, ...).
    const model = createModel('t2t_vit_7', { imgSize: 64, numClasses: 10 });
    const logits = model.predict(tf.zeros([2, 64, 64, 3])); // [2, 10]

    // 2. The T2T stem in front of core's blocks: a hybrid built from JSON.
    const hybrid = createModelFromSpec({
      imgSize: 64,
      numClasses: 10,
      stem: { block: 't2t' },
      stages: [{ block: 'class_token' }, { block: 'transformer', depth: 4, options: { numHeads: 6 } }],
      head: { block: 'classifier' },
    });
    const hybridLogits = hybrid.predict(tf.zeros([2, 64, 64, 3])); // [2, 10]

    // 3. Official weights. The released checkpoints were trained with the attention scale
    //    embed_dim^-0.5 (upstream issue #62), hence qkScale: 'embed'.
    const pretrained = createModel('t2t_vit_7', { qkScale: 'embed' }) as T2TViT;
    const { tensors } = await loadSafetensors(checkpointPath);
    loadT2TStateDict(pretrained, tensors); // strict: every official key, linear weights transposed
    // --- end of README code ---

    expect(logits.shape).toEqual([2, 10]);
    expect(hybridLogits.shape).toEqual([2, 10]);
    const images = tf.randomNormal([1, 224, 224, 3]) as tf.Tensor4D;
    const [a, b] = [official.predict(images), pretrained.predict(images)];
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([logits, hybridLogits, images, a, b, ...Object.values(tensors)]);
    for (const m of [model, hybrid, pretrained, official]) m.dispose();
  });
});
