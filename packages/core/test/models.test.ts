import { beforeAll, describe, expect, it } from 'vitest';
import { createModel, getBackend, setBackend, tf } from '../src/index.js';

beforeAll(async () => {
  await setBackend('wasm');
});

describe('DeiT', () => {
  it('parameter counts equal timm exactly', () => {
    const expected: Record<string, number> = {
      deit_tiny_patch16_224: 5_717_416,
      deit_small_patch16_224: 22_050_664,
      deit_base_patch16_224: 86_567_656,
    };
    for (const [name, count] of Object.entries(expected)) {
      const m = createModel(name);
      expect(m.numParameters()).toBe(count);
      m.dispose();
    }
  });

  it('deit_tiny_patch16_224 maps a [2,224,224,3] batch to [2,1000] without leaking', () => {
    const m = createModel('deit_tiny_patch16_224');
    const x = tf.randomNormal([2, 224, 224, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const y = m.predict(x);
    expect(y.shape).toEqual([2, 1000]);
    expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it('identical seeds give identical models and outputs; different seeds differ', () => {
    const opts = { imgSize: 16, patchSize: 8, numClasses: 4 };
    const a = createModel('deit_tiny_patch16_224', { ...opts, seed: 11 });
    const b = createModel('deit_tiny_patch16_224', { ...opts, seed: 11 });
    const c = createModel('deit_tiny_patch16_224', { ...opts, seed: 12 });
    const x = tf.randomNormal([2, 16, 16, 3]) as tf.Tensor4D;
    const [ya, yb, yc] = [a.predict(x), b.predict(x), c.predict(x)];
    expect(Array.from(ya.dataSync())).toEqual(Array.from(yb.dataSync()));
    expect(Array.from(ya.dataSync())).not.toEqual(Array.from(yc.dataSync()));
    tf.dispose([x, ya, yb, yc]);
    [a, b, c].forEach((m) => m.dispose());
  });

  it('exposes the last block’s class-token attention, a distribution over the patches once the class column is dropped', () => {
    const m = createModel('deit_tiny_patch16_224', { imgSize: 32, patchSize: 8, numClasses: 4 });
    const x = tf.randomNormal([3, 32, 32, 3]) as tf.Tensor4D;
    const out = m.forward(x, { outputs: ['clsAttention'] });
    const att = out.clsAttention!;
    expect(att.probs.shape).toEqual([3, 3, 16]);
    expect(att.grid).toEqual({ height: 4, width: 4 });
    const sums = tf.sum(att.probs, -1).dataSync();
    for (const s of sums) {
      expect(s).toBeGreaterThan(0);
      expect(s).toBeLessThan(1);
    }
    tf.dispose([x, out.logits, att.probs]);
    m.dispose();
  });

  it('a training step of a DeiT-Tiny-sized model on 32x32 runs on wasm with a stable tensor count and learns', () => {
    expect(getBackend()).toBe('wasm');
    const m = createModel('deit_tiny_patch16_224', { imgSize: 32, patchSize: 4, numClasses: 10, dropPathRate: 0.1 });
    const opt = tf.train.adam(5e-4);
    const x = tf.randomNormal([8, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32'), 10);
    const losses: number[] = [];
    const counts: number[] = [];
    for (let step = 0; step < 4; step++) {
      const loss = opt.minimize(() => tf.losses.softmaxCrossEntropy(labels, m.forward(x, { training: true }).logits) as tf.Scalar, true, m.trainableVariables())!;
      losses.push(loss.dataSync()[0]!);
      loss.dispose();
      counts.push(tf.memory().numTensors);
    }
    // The optimiser allocates its moments on the first step; after that nothing may accumulate.
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[3]!).toBeLessThan(losses[0]!);
    tf.dispose([x, labels]);
    opt.dispose();
    m.dispose();
  });
});
