import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CORE_VERSION, createModel, registry, setBackend, softTargetCrossEntropy, tf, use, type AugmentationDefinition, type VisionModel } from '@tessera/core';
import { expectRelClose } from '@tessera/test-utils';
import { beforeAll, describe, expect, test } from 'vitest';
import { parseAugmentList } from '../src/augment.js';
import type { TrainConfig } from '../src/config.js';
import { buildModel, resolveModelRef, type ModelRef } from '../src/model.js';
import { loadPlugins } from '../src/plugins.js';
import { loadCheckpointTensors, readCheckpoint } from '../src/train/checkpoint.js';
import { readMetrics, train } from '../src/train/trainer.js';
import { tempDir, TINY_SPEC, tinyTrainConfig } from './helpers.js';

let tinyModel: ModelRef;
const config = (out: string, overrides: Partial<TrainConfig> = {}): TrainConfig => tinyTrainConfig(tinyModel, out, overrides);

describe('train (in process)', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    await loadPlugins();
    tinyModel = await resolveModelRef(TINY_SPEC);
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

  test('the trainer calls afterForward once per step and trains on the targets it returns, not the area-mixed ones', async () => {
    // TransMix itself, wrapped to count its after-forward calls and to price each step's loss both ways.
    const transmix = registry.getAugmentation('transmix').definition;
    const seen = { afterForward: 0, withAttentionTargets: [] as number[], withAreaTargets: [] as number[] };
    const counted: AugmentationDefinition = {
      description: 'TransMix, counting its afterForward calls (test only)',
      options: transmix.options,
      create(options) {
        const inner = transmix.create(options);
        let areaTargets: tf.Tensor2D | undefined;
        return {
          name: 'counted_transmix',
          requiresOutputs: inner.requiresOutputs,
          checkModel: (model) => inner.checkModel(model),
          sample: (batchSize, rng) => inner.sample(batchSize, rng),
          apply: (batch, params) => {
            const out = inner.apply(batch, params);
            areaTargets = out.targets;
            return out;
          },
          afterForward: (batch, params, outputs) => {
            seen.afterForward++;
            const targets = inner.afterForward!(batch, params, outputs);
            tf.tidy(() => {
              seen.withAttentionTargets.push(softTargetCrossEntropy(outputs.logits, targets).dataSync()[0]!);
              seen.withAreaTargets.push(softTargetCrossEntropy(outputs.logits, areaTargets!).dataSync()[0]!);
            });
            return targets;
          },
        };
      },
    };
    use({ name: 'counted-transmix-test', version: '0.0.0', coreRange: CORE_VERSION, augmentations: { counted_transmix: counted } });
    const out = tempDir('after-forward');
    const result = await train(config(out, { augment: [{ name: 'counted_transmix', options: { switchProb: 1 } }], trainSize: 48, batchSize: 8 }));
    expect(result.steps).toBe(6);
    expect(seen.afterForward).toBe(6);
    const logged = (await readMetrics(out)).filter((m) => m.type === 'train').map((m) => m.loss);
    // The logged loss is the one computed with afterForward's targets (same tensors, same function: float32 rounding only).
    expectRelClose(logged, seen.withAttentionTargets, 'logged loss vs loss with the attention targets', 1e-6);
    // ...and the area-mixed targets would have given another loss at some step, so the comparison can fail: near-uniform
    // logits of a fresh model make the loss depend little on the targets (measured gap 2e-4), still 100x the tolerance.
    const gaps = seen.withAreaTargets.map((v, i) => Math.abs(v - seen.withAttentionTargets[i]!) / v);
    expect(Math.max(...gaps)).toBeGreaterThan(1e-5);
  });

  test('weight decay: every bias, norm weight, position embedding and class token is exempt and every other weight decayed (timm\'s rule), for each model family', async () => {
    // timm's param_groups_weight_decay: no decay for 1-D parameters (norm weights, LayerScale), biases and the model's
    // no_weight_decay() set (pos_embed, cls_token); everything else, i.e. every matrix and kernel, is decayed.
    const timmExempt = (name: string, rank: number) => rank <= 1 || name.endsWith('.bias') || name === 'bias' || /(^|\.)(pos_embed|cls_token)$/.test(name);
    const models: Array<[string, VisionModel]> = [
      ['spec ' + TINY_SPEC, buildModel(await resolveModelRef(TINY_SPEC), { numClasses: 10, imgSize: 16 })],
      ['deit_tiny_patch16_224', createModel('deit_tiny_patch16_224', { imgSize: 32, numClasses: 10 })],
      ['t2t_vit_7', createModel('t2t_vit_7', { imgSize: 32, numClasses: 10 })],
    ];
    for (const [label, model] of models) {
      const trainable = model.namedParameters().filter(([, p]) => p.trainable);
      const wrong = trainable.filter(([name, p]) => p.weightDecay === timmExempt(name, p.variable.rank)).map(([name, p]) => `${name} (decay ${p.weightDecay})`);
      expect(wrong, label).toEqual([]);
      const exempt = trainable.filter(([, p]) => !p.weightDecay).map(([n]) => n);
      expect(exempt.some((n) => n.endsWith('bias')), label).toBe(true);
      expect(exempt.some((n) => /norm.*weight/.test(n)), label).toBe(true);
      expect(exempt.some((n) => /pos_embed/.test(n)) || label === 't2t_vit_7', label).toBe(true); // T2T's sinusoid table is frozen
      expect(exempt.some((n) => /cls_token/.test(n)), label).toBe(true);
      expect(trainable.some(([, p]) => p.weightDecay), label).toBe(true);
      model.dispose();
    }
  });

  test('a trainer step with (almost) zero gradient shrinks decayed weights by exactly (1 − lr·wd) and leaves exempt ones unchanged', async () => {
    // --clip-grad 1e-30 scales the gradient to ~1e-31: Adam's second moment underflows to 0 in float32 and its step is
    // ~1e-23, far below float32 resolution of the weights, so the step is the decoupled decay alone. lr 1 with no warmup
    // makes step 0 run at lr 1 (cosine at progress 0), so decayed weights are multiplied by 1 − 1·0.05 = 0.95.
    const out = tempDir('decay');
    await train(config(out, { steps: 1, lr: 1, warmupEpochs: 0, clipGrad: 1e-30, weightDecay: 0.05 }));
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as TrainConfig;
    expect(saved.weightDecay).toBe(0.05);
    const initial = buildModel(saved.model, { numClasses: 10, imgSize: 16, seed: saved.seed });
    const { state } = await readCheckpoint(out);
    const after = await loadCheckpointTensors(out, state.files.model);
    let decayed = 0;
    let exempt = 0;
    for (const [name, p] of initial.namedParameters().filter(([, q]) => q.trainable)) {
      const before = p.variable.dataSync();
      const now = after[name]!.dataSync();
      // float32 product w·0.95: 1e-6 of the largest weight; exempt weights move by ~1e-23 at most (floor 1e-12 for all-zero biases).
      if (p.weightDecay) {
        decayed++;
        expectRelClose(now, Array.from(before, (w) => w * 0.95), `${name} decayed by 0.95`, 1e-6, 1e-12);
      } else {
        exempt++;
        expectRelClose(now, before, `${name} unchanged`, 1e-6, 1e-12);
      }
    }
    expect(decayed).toBeGreaterThan(0);
    expect(exempt).toBeGreaterThan(0);
    tf.dispose(Object.values(after));
    initial.dispose();
  });
});
