import { createModelFromSpec, setBackend, tf, type ModelSpecInput } from '@tessera/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { parseAugmentList } from '../src/augment.js';
import { TRAIN_DEFAULTS, type TrainConfig } from '../src/config.js';
import type { ModelRef } from '../src/model.js';
import { loadPlugins } from '../src/plugins.js';
import { train } from '../src/train/trainer.js';
import { tempDir, tessera } from './helpers.js';

/*
 * FAN's blocks next to other plugins' blocks, written as JSON specs (the FAN issue's
 * hybrids), and TransMix on a FAN model: the plugins are loaded as the CLI loads them,
 * none is imported.
 */

const fanHead = [
  { block: 'class_token', name: '', options: { posEmbed: 'none' } },
  { block: 'fan_class_attention', name: 'cls_attn_blocks', depth: 1, options: { numHeads: 2 } },
];

const hybrids: Record<string, ModelSpecInput> = {
  'a FAN stage after a T2T stem': {
    name: 't2t_fan',
    imgSize: 32,
    numClasses: 10,
    stem: { block: 't2t', name: 'tokens_to_token', options: { embedDim: 32, tokenDim: 16 } },
    stages: [{ block: 'fan_position', name: 'pos_embed' }, { block: 'fan', name: 'blocks', depth: 2, options: { numHeads: 2 } }, ...fanHead],
    head: { block: 'classifier', name: '', options: { pool: 'token' } },
  },
  "FAN blocks and FAN's class-attention head on a convolutional (FAN-Hybrid ConvNeXt) stem": {
    name: 'convstem_fan',
    imgSize: 32,
    numClasses: 10,
    stem: { block: 'convnext_stem', name: 'stem', options: { outChannels: 16, patchSize: 4 } },
    stages: [
      { block: 'fan_hybrid_embed', name: 'embed', options: { embedDim: 32, patchSize: 2 } },
      { block: 'fan_position', name: 'pos_embed' },
      { block: 'fan', name: 'blocks', depth: 2, options: { numHeads: 2 } },
      ...fanHead,
    ],
    head: { block: 'classifier', name: '', options: { pool: 'token' } },
  },
  'a ConvNeXt stage under ViT blocks': {
    name: 'convnext_vit',
    imgSize: 32,
    numClasses: 10,
    stem: { block: 'convnext_stem', name: 'stem', options: { outChannels: 16, patchSize: 4 } },
    stages: [
      { block: 'convnext_stage', name: 'stages.0', options: { outChannels: 32, depth: 1, stride: 2 } },
      { block: 'class_token', name: '', options: {} },
      { block: 'transformer', name: 'blocks', depth: 2, options: { numHeads: 2 } },
    ],
    head: { block: 'classifier', name: '', options: { pool: 'token' } },
  },
};

const config = (out: string, model: ModelRef, overrides: Partial<TrainConfig> = {}): TrainConfig => ({
  ...TRAIN_DEFAULTS,
  model,
  plugins: [],
  data: 'synthetic',
  trainSize: 16,
  testSize: 8,
  imgSize: 32,
  epochs: 1,
  batchSize: 8,
  evalBatchSize: 8,
  augment: [],
  backend: 'wasm',
  out,
  ...overrides,
});

describe('FAN with other plugins', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    await loadPlugins();
  });

  for (const [label, spec] of Object.entries(hybrids)) {
    test(`${label}: builds from JSON, trains a few steps, leaks nothing`, async () => {
      const model = createModelFromSpec(spec);
      const logits = model.predict(tf.zeros([1, 32, 32, 3]));
      expect(logits.shape).toEqual([1, 10]);
      logits.dispose();
      model.dispose();
      const before = tf.memory().numTensors;
      const result = await train(config(tempDir('fan-hybrid'), { name: spec.name!, spec: spec as Record<string, unknown> }));
      expect(result.steps).toBe(2);
      expect(Number.isFinite(result.trainLoss)).toBe(true);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  test('TransMix trains a FAN model through its class-attention head', async () => {
    const before = tf.memory().numTensors;
    const result = await train(config(tempDir('fan-transmix'), { name: 'fan_tiny_12_p16_224' }, { augment: parseAugmentList('transmix'), steps: 2 }));
    expect(result.steps).toBe(2);
    expect(Number.isFinite(result.trainLoss)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('`tessera models` lists the FAN models and `tessera train --model fan_tiny_12_p16_224` runs end to end', () => {
    const listed = tessera(['models', 'fan_*', '--json']);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toContain('fan_swin_large_patch4_window7_224');
    const out = tempDir('fan-cli');
    const run = tessera(['train', '--model', 'fan_tiny_12_p16_224', '--img-size', '32', '--steps', '1', '--data', 'synthetic', '--train-size', '8', '--test-size', '8', '--batch-size', '8', '--backend', 'wasm', '--out', out, '--json']);
    expect(run.status, run.stderr).toBe(0);
    expect(Number.isFinite(run.json<{ trainLoss: number }>().trainLoss)).toBe(true);
  });
});
