import { beforeAll, describe, expect, it } from 'vitest';
import { buildWithWeights, createModel, initialValuesSkipped, Rng, setBackend, StateDictError, tf, withoutInitialValues } from '../src/index.js';

beforeAll(async () => {
  await setBackend('wasm');
});

const build = (seed: number) => () => createModel('deit_tiny_patch16_224', { imgSize: 16, patchSize: 8, numClasses: 3, dropPathRate: 0.2, seed });
const images = () => tf.tidy(() => tf.tensor4d(Array.from({ length: 2 * 16 * 16 * 3 }, (_, i) => Math.sin(i * 0.37)), [2, 16, 16, 3]));

/** Keys whose values differ in any bit between two models' state dicts. */
function differingKeys(a: { stateDict(): Record<string, tf.Tensor> }, b: { stateDict(): Record<string, tf.Tensor> }): string[] {
  const x = a.stateDict();
  const y = b.stateDict();
  const bytes = (t: tf.Tensor) => Buffer.from((t.dataSync() as Float32Array).buffer);
  return Object.keys({ ...x, ...y }).filter((k) => !x[k] || !y[k] || !bytes(x[k]).equals(bytes(y[k])));
}

describe('building without initial values', () => {
  it('gives the same keys, shapes and parameter count, with zeros where core draws', () => {
    const drawn = build(1)();
    const skipped = withoutInitialValues(build(1));
    try {
      expect(skipped.numParameters()).toBe(drawn.numParameters());
      const a = drawn.stateDict();
      const b = skipped.stateDict();
      expect(Object.keys(b)).toEqual(Object.keys(a));
      for (const key of Object.keys(a)) expect(b[key]!.shape).toEqual(a[key]!.shape);
      // Drawn weights are trunc-normal(0.02); skipped ones are zeros; norms keep their ones.
      expect(Array.from(b['blocks.0.attn.qkv.weight']!.dataSync()).every((v) => v === 0)).toBe(true);
      expect(Array.from(a['blocks.0.attn.qkv.weight']!.dataSync()).some((v) => v !== 0)).toBe(true);
      expect(Array.from(b['blocks.0.norm1.weight']!.dataSync()).every((v) => v === 1)).toBe(true);
    } finally {
      drawn.dispose();
      skipped.dispose();
    }
  });

  it('is scoped: a throwing build leaves it, and the next build draws the same values as ever', () => {
    expect(initialValuesSkipped()).toBe(false);
    expect(() =>
      withoutInitialValues(() => {
        expect(initialValuesSkipped()).toBe(true);
        throw new Error('failed build');
      }),
    ).toThrow('failed build');
    expect(initialValuesSkipped()).toBe(false);
    const first = build(4)();
    withoutInitialValues(build(4)).dispose();
    const second = build(4)();
    expect(differingKeys(second, first)).toEqual([]);
    first.dispose();
    second.dispose();
  });

  it('buildWithWeights: the model build + loadStateDict gives, including the Rng its forward calls draw from', () => {
    const reference = build(7)();
    const loaded = buildWithWeights(build(7), reference.stateDict());
    const x = images();
    try {
      expect(differingKeys(loaded, reference)).toEqual([]);
      // Drop path draws from the model's own Rng (seeded by the spec), untouched by the skipped draws.
      for (const training of [false, true]) {
        const a = reference.forward(x, { training }).logits;
        const b = loaded.forward(x, { training }).logits;
        expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
        tf.dispose([a, b]);
      }
      const rng = new Rng(3);
      const a = reference.forward(x, { training: true, rng: Rng.fromState(rng.getState()) }).logits;
      const b = loaded.forward(x, { training: true, rng: Rng.fromState(rng.getState()) }).logits;
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      tf.dispose([a, b]);
    } finally {
      x.dispose();
      reference.dispose();
      loaded.dispose();
    }
  });

  it('buildWithWeights refuses a state dict that does not cover every key, and frees what it built', () => {
    const reference = build(2)();
    const partial = { ...reference.stateDict() };
    delete partial['head.weight'];
    const before = tf.memory().numTensors;
    expect(() => buildWithWeights(build(2), partial)).toThrow(StateDictError);
    expect(() => buildWithWeights(build(2), partial)).toThrow(/missing keys: head\.weight/);
    expect(tf.memory().numTensors).toBe(before);
    expect(initialValuesSkipped()).toBe(false);
    reference.dispose();
  });

  it('leaks nothing, called outside tf.tidy, and leaves the caller the weights it passed', () => {
    const reference = build(5)();
    const weights = reference.stateDict();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) buildWithWeights(build(5), weights).dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(weights['head.weight']!.isDisposed).toBe(false);
    reference.dispose();
  });
});
