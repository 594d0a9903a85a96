import { createAugmentation, createModelFromSpec, registry, setBackend, tf } from '@tessera/core';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import { buildAugmentation, parseAugmentList } from '../../src/augment.js';
import { loadPlugins } from '../../src/plugins.js';
import { corruptImage, imageSeed } from '../../src/robustness/corruptions/index.js';
import { CorruptAugmentation } from '../../src/robustness/augment.js';
import { smoothScene } from './images.js';
import { TINY_SPEC } from '../helpers.js';

const spec = JSON.parse(readFileSync(TINY_SPEC, 'utf8')) as Record<string, unknown>;

describe('--augment corrupt', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    await loadPlugins();
  });

  test('is registered through the augmentation registry by the harness plugin', () => {
    expect(registry.getAugmentation('corrupt').plugin).toBe('@tessera/harness');
    expect(parseAugmentList('corrupt:corruptions=fog+contrast;severities=1-3;prob=0.5,mixup')).toEqual([
      { name: 'corrupt', options: { corruptions: 'fog+contrast', severities: '1-3', prob: 0.5 } },
      { name: 'mixup', options: {} },
    ]);
    expect(() => createAugmentation('corrupt', { corruptions: 'fog+smoke' })).toThrow(/corruptions.*smoke/);
    expect(() => createAugmentation('corrupt', { prob: 2 })).toThrow(/prob/);
    expect(() => createAugmentation('corrupt', { severity: 2 })).toThrow(/severity/);
  });

  test('corrupts the un-normalised image exactly as corruptImage, leaves the labels, and leaks nothing', () => {
    const model = createModelFromSpec({ ...spec, imgSize: 16 });
    const built = buildAugmentation([{ name: 'corrupt', options: { corruptions: 'contrast', severities: 5, prob: 1 } }], model, 0)!;
    const { mean, std } = model.config;
    const clean = smoothScene(16, 16);
    const normalised = Float32Array.from(clean.data, (v, i) => (v - mean[i % 3]!) / std[i % 3]!);
    const images = tf.tensor4d(normalised, [1, 16, 16, 3]);
    const targets = tf.tensor2d([[1, 0, 0]]);
    const before = tf.memory().numTensors;
    const params = built.augmentation.sample(1, new (class {
      private i = 0;
      uniform() {
        return 0.1;
      }
      int() {
        return 0;
      }
      uint32() {
        return 77 + this.i++;
      }
    })() as never);
    const out = built.augmentation.apply({ images, targets }, params);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(out.targets).toBe(targets);
    const expected = corruptImage(clean, 'contrast', 5, { seed: imageSeed(77, 0) }).data;
    const got = out.images.dataSync();
    for (let i = 0; i < expected.length; i++) expect(got[i]! * std[i % 3]! + mean[i % 3]!).toBeCloseTo(expected[i]!, 5);
    out.images.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([images, targets]);
    model.dispose();
  });

  test('with prob 0 returns an equal copy; apply before checkModel is refused', () => {
    const aug = new CorruptAugmentation({ corruptions: 'fog', severities: '1-5', prob: 0 });
    const images = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
    const targets = tf.zeros([2, 3]) as tf.Tensor2D;
    expect(() => aug.apply({ images, targets }, { images: [null, null] })).toThrow(/checkModel/);
    const model = createModelFromSpec({ ...spec, imgSize: 8 });
    aug.checkModel(model);
    const params = aug.sample(2, { uniform: () => 0.3 } as never);
    expect(params.images).toEqual([null, null]);
    const out = aug.apply({ images, targets }, params);
    expect(out.images).not.toBe(images);
    expect(out.images.dataSync()).toEqual(images.dataSync());
    tf.dispose([images, targets, out.images]);
    model.dispose();
  });
});
