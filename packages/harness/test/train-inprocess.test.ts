import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setBackend, tf } from '@tessera/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { parseAugmentList } from '../src/augment.js';
import { TRAIN_DEFAULTS, type TrainConfig } from '../src/config.js';
import { resolveModelRef } from '../src/model.js';
import { loadPlugins } from '../src/plugins.js';
import { train } from '../src/train/trainer.js';
import { tempDir, TINY_SPEC } from './helpers.js';

const config = (out: string, overrides: Partial<TrainConfig> = {}): TrainConfig => ({
  ...TRAIN_DEFAULTS,
  model: resolveModelRef(TINY_SPEC),
  plugins: [],
  data: 'synthetic',
  trainSize: 32,
  testSize: 16,
  imgSize: 16,
  epochs: 1,
  batchSize: 8,
  evalBatchSize: 16,
  augment: [],
  backend: 'wasm',
  out,
  ...overrides,
});

describe('train (in process)', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    await loadPlugins();
  });

  test('parseAugmentList reads names and typed key=value options', () => {
    expect(parseAugmentList('mixup,cutmix')).toEqual([
      { name: 'mixup', options: {} },
      { name: 'cutmix', options: {} },
    ]);
    expect(parseAugmentList('mixup:mixupAlpha=0.2;mode=elem;correctLambda=false')).toEqual([{ name: 'mixup', options: { mixupAlpha: 0.2, mode: 'elem', correctLambda: false } }]);
    expect(parseAugmentList('none')).toEqual([]);
    expect(() => parseAugmentList('mixup:alpha')).toThrow(/--augment/);
  });

  test('TransMix trains through its after-forward step, and a whole run leaks no tensors', async () => {
    const before = tf.memory().numTensors;
    const result = await train(config(tempDir('transmix'), { augment: [{ name: 'transmix', options: {} }], ema: 0.5, dropPath: 0.1 }));
    expect(result.steps).toBe(4);
    expect(Number.isFinite(result.trainLoss)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    const again = await train(config(tempDir('transmix'), { augment: [{ name: 'transmix', options: {} }] }));
    expect(again.steps).toBe(4);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('weight decay spares norms, biases, position embeddings and class tokens (the model carries the flags)', async () => {
    const out = tempDir('decay');
    await train(config(out, { steps: 1 }));
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as TrainConfig;
    expect(saved.weightDecay).toBe(0.05);
    const { buildModel } = await import('../src/model.js');
    const model = buildModel(saved.model, { numClasses: 10, imgSize: 16 });
    const exempt = model
      .namedParameters()
      .filter(([, p]) => !p.weightDecay)
      .map(([n]) => n);
    expect(exempt.some((n) => n.endsWith('bias'))).toBe(true);
    expect(exempt.some((n) => /norm.*weight/.test(n))).toBe(true);
    expect(exempt.some((n) => /cls_token|pos_embed/.test(n))).toBe(true);
    model.dispose();
  });
});
