import { expectRelClose } from '@tessera/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { createModelFromSpec, ForwardContext, Rng, setBackend, tf, use, type ComposedModel } from '@tessera/core';
import { t2tPlugin, t2tVitSpec, T2TModule } from '../src/index.js';

function tinyModel(seed = 0): ComposedModel {
  return createModelFromSpec(t2tVitSpec({
    name: 't2t_vit_tiny',
    imgSize: [32, 32],
    numClasses: 4,
    tokenDim: 16,
    embedDim: 32,
    depth: 2,
    numHeads: 2,
    mlpRatio: 2,
    dropPathRate: 0.1,
    seed,
  }));
}

function batch(seed: number): { images: tf.Tensor4D; labels: tf.Tensor2D } {
  const rng = new Rng(seed);
  const images = tf.tensor4d(Float32Array.from({ length: 4 * 32 * 32 * 3 }, () => rng.normal()), [4, 32, 32, 3]);
  const labels = tf.tensor2d([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], [4, 4]);
  return { images, labels };
}

describe('training T2T-ViT on the wasm backend', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    use(t2tPlugin);
  });

  it('a tiny T2T-ViT (32x32 input, performer stem with dropout, drop path) trains: loss falls and no tensor leaks', () => {
    const model = tinyModel();
    const { images, labels } = batch(1);
    const optimizer = tf.train.adam(3e-3);
    const evalLoss = () => tf.tidy(() => tf.losses.softmaxCrossEntropy(labels, model.predict(images)).dataSync()[0]!);
    const initial = evalLoss();
    const counts: number[] = [];
    for (let step = 0; step < 20; step++) {
      const { value, grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(labels, model.forward(images, { training: true }).logits) as tf.Scalar,
        model.trainableVariables(),
      );
      optimizer.applyGradients(grads as unknown as Parameters<typeof optimizer.applyGradients>[0]);
      tf.dispose([value, ...Object.values(grads)]);
      counts.push(tf.memory().numTensors);
    }
    const final = evalLoss();
    expect(final).toBeLessThan(initial * 0.5);
    // The optimiser allocates its moments on the first step; after that every step frees what it makes.
    expect(new Set(counts.slice(1)).size).toBe(1);
    // Frozen parameters (performer w, sinusoid pos_embed) are not trained.
    expect(model.trainableVariables()).not.toContain(model.stateDict().pos_embed);
    optimizer.dispose();
    tf.dispose([images, labels]);
    model.dispose();
  });

  it('the T2T stem has the same gradients on wasm as on cpu', async () => {
    const gradsOn = async (backend: 'wasm' | 'cpu') => {
      await setBackend(backend);
      const module = new T2TModule({ layout: 'image', height: 19, width: 23, channels: 3 }, { embedDim: 12, tokenDim: 8, dropRate: 0 }, new Rng(7));
      const rng = new Rng(8);
      const images = tf.tensor4d(Float32Array.from({ length: 2 * 19 * 23 * 3 }, () => rng.normal()), [2, 19, 23, 3]);
      const grid = module.outputGrid;
      const weights = tf.tensor3d(Float32Array.from({ length: 2 * grid.height * grid.width * 12 }, () => rng.normal()), [2, grid.height * grid.width, 12]);
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(module.tokenize(images, new ForwardContext(true)), weights)) as tf.Scalar, module.trainableVariables());
      const named = module.namedParameters().filter(([, p]) => p.trainable);
      const out = Object.fromEntries(named.map(([name, p]) => [name, Array.from(grads[p.variable.name]!.dataSync())]));
      tf.dispose([images, weights, ...Object.values(grads)]);
      module.dispose();
      return out;
    };
    const cpu = await gradsOn('cpu');
    const wasm = await gradsOn('wasm');
    expect(Object.keys(wasm)).toEqual(Object.keys(cpu));
    // Float32 sums over up to 147-wide soft-split windows and two performer layers: 1e-4 of each gradient's own
    // largest magnitude (floor 1e-6: these gradients are far below 1 and must still be compared relatively).
    for (const [name, values] of Object.entries(wasm)) expectRelClose(values, cpu[name]!, `${name} gradient, wasm vs cpu`, 1e-4, 1e-6);
  });
});
