import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { adamwUpdate, InvalidArgumentError, Rng, setBackend, tf, type AdamWStep } from '../src/index.js';
import { wasmAdamWActive } from '../src/ops/adamw.js';
import { overrideWasmVersionForTesting } from '../src/ops/wasm-adapter.js';

/*
 * adamwUpdate (the SIMD kernel kernels/adamw.wat on wasm, tfjs ops elsewhere) against
 * one AdamW step computed here in float64 from the same float32 state, as torch's
 * `_single_tensor_adamw` writes it: p·(1 − lr·λ), m' = β1·m + (1 − β1)·g,
 * v' = β2·v + (1 − β2)·g², p' −= lr/(1 − β1^t) · m' / (√v'/√(1 − β2^t) + ε).
 *
 * Tolerance: each result within 5e-7 of the sum of its terms' magnitudes
 * (|β1·m| + |(1 − β1)·g| for m', |p·(1 − lr·λ)| + the update with m' replaced by
 * that sum for p'): float32 rounds each of the five or six operations by at most
 * 6e-8 of its magnitude, and the scalars are float32 too.
 * Measuring against the magnitudes, not the result, keeps the bound meaningful where
 * the terms cancel. The kernel and the tfjs composite run the same float32 operations
 * in the same order, so they must also agree to the bit.
 */

const HYPER = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

function reference(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, s: AdamWStep) {
  const n = p.length;
  const out = { p: new Float64Array(n), m: new Float64Array(n), v: new Float64Array(n), pScale: new Float64Array(n), mScale: new Float64Array(n), vScale: new Float64Array(n) };
  const decay = 1 - s.lr * s.weightDecay;
  const stepSize = s.lr / (1 - s.beta1 ** s.step);
  const sqrtBias2 = Math.sqrt(1 - s.beta2 ** s.step);
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    out.m[i] = s.beta1 * m[i]! + (1 - s.beta1) * gi;
    out.mScale[i] = Math.abs(s.beta1 * m[i]!) + Math.abs((1 - s.beta1) * gi);
    out.v[i] = s.beta2 * v[i]! + (1 - s.beta2) * gi * gi;
    out.vScale[i] = Math.abs(s.beta2 * v[i]!) + (1 - s.beta2) * gi * gi;
    const denom = Math.sqrt(out.v[i]!) / sqrtBias2 + s.eps;
    out.p[i] = p[i]! * decay - (stepSize * out.m[i]!) / denom;
    // m' carries its own rounding (relative to its terms, where they cancel) into the update.
    out.pScale[i] = Math.abs(p[i]! * decay) + (stepSize * out.mScale[i]!) / denom;
  }
  return out;
}

function worstExcess(ours: ArrayLike<number>, ref: Float64Array, scale: Float64Array): number {
  let worst = -Infinity;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - ref[i]!) - 5e-7 * scale[i]!);
  return worst;
}

/** A parameter, gradient and moments of length n with values over several magnitudes (v ≥ 0), some gradients exactly 0. */
function state(n: number, seed: number) {
  const rng = new Rng(seed);
  const draw = (scale: number) => Float32Array.from({ length: n }, () => rng.normal() * scale * 10 ** Math.floor(rng.uniform() * 4 - 2));
  const g = draw(1);
  for (let i = 0; i < n; i += 7) g[i] = 0;
  return { p: draw(1), g, m: draw(0.1), v: draw(0.01).map((x) => x * x) };
}

function run(s: ReturnType<typeof state>, step: AdamWStep) {
  const ts = [s.p, s.g, s.m, s.v].map((a) => tf.tensor1d(a));
  const out = adamwUpdate(ts[0]!, ts[1]!, ts[2]!, ts[3]!, step);
  const values = { p: out.param.dataSync() as Float32Array, m: out.m.dataSync() as Float32Array, v: out.v.dataSync() as Float32Array };
  tf.dispose([...ts, out.param, out.m, out.v]);
  return values;
}

describe('adamwUpdate', () => {
  beforeAll(async () => {
    await setBackend('wasm');
  });
  afterEach(() => {
    overrideWasmVersionForTesting(undefined);
    vi.restoreAllMocks();
  });

  it('runs the SIMD kernel on wasm', () => {
    expect(wasmAdamWActive()).toBe(true);
  });

  // Lengths that are not multiples of 4 exercise the scalar tail; t = 1 has the largest bias correction.
  it.each([
    [1, 1, 0.05, 1e-3],
    [7, 2, 0, 1e-3],
    [1003, 10, 0.05, 3e-4],
    [4096, 1000, 0.3, 1e-2],
  ])('matches float64 within 5e-7 of the terms (n = %i, step %i, λ = %f, lr = %f)', (n, t, weightDecay, lr) => {
    const s = state(n, n + t);
    const step = { ...HYPER, lr, weightDecay, step: t };
    const ours = run(s, step);
    const ref = reference(s.p, s.g, s.m, s.v, step);
    expect(worstExcess(ours.m, ref.m, ref.mScale)).toBeLessThanOrEqual(0);
    expect(worstExcess(ours.v, ref.v, ref.vScale)).toBeLessThanOrEqual(0);
    expect(worstExcess(ours.p, ref.p, ref.pScale)).toBeLessThanOrEqual(0);
    // The decay is there: without it the decayed parameter would be off by far more than the tolerance.
    if (weightDecay > 0) {
      const undecayed = reference(s.p, s.g, s.m, s.v, { ...step, weightDecay: 0 });
      expect(worstExcess(ours.p, undecayed.p, undecayed.pScale)).toBeGreaterThan(0);
    }
  });

  it('agrees to the bit with the tfjs composite it replaces (the fallback on other backends and tfjs-wasm versions)', () => {
    const s = state(1001, 5);
    const step = { ...HYPER, lr: 1e-3, weightDecay: 0.05, step: 3 };
    const kernel = run(s, step);
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    overrideWasmVersionForTesting('4.23.0');
    expect(wasmAdamWActive()).toBe(false);
    const composite = run(s, step);
    expect(Array.from(kernel.p)).toEqual(Array.from(composite.p));
    expect(Array.from(kernel.m)).toEqual(Array.from(composite.m));
    expect(Array.from(kernel.v)).toEqual(Array.from(composite.v));
  });

  it('leaves its inputs unchanged and leaks nothing, called outside tf.tidy', () => {
    const s = state(37, 9);
    const [p, g, m, v] = [s.p, s.g, s.m, s.v].map((a) => tf.tensor2d(a, [1, 37]));
    const before = tf.memory().numTensors;
    for (let t = 1; t <= 3; t++) {
      const out = adamwUpdate(p!, g!, m!, v!, { ...HYPER, lr: 1e-3, weightDecay: 0.05, step: t });
      expect(out.param.shape).toEqual([1, 37]);
      tf.dispose([out.param, out.m, out.v]);
      expect(tf.memory().numTensors).toBe(before);
    }
    expect(Array.from(p!.dataSync())).toEqual(Array.from(s.p));
    expect(Array.from(m!.dataSync())).toEqual(Array.from(s.m));
    tf.dispose([p!, g!, m!, v!]);
  });

  it('refuses mismatched shapes, other dtypes and bad hyper-parameters by name, before any compute', () => {
    const p = tf.zeros([4]);
    const before = tf.memory().numTensors;
    const step = { ...HYPER, lr: 1e-3, weightDecay: 0, step: 1 };
    const wrong = tf.zeros([5]);
    const ints = tf.zeros([4], 'int32');
    expect(() => adamwUpdate(p, wrong, p, p, step)).toThrow(/adamwUpdate grad\.shape = \[5\].*\[4\]/);
    expect(() => adamwUpdate(p, p, p, ints, step)).toThrow(/adamwUpdate v\.dtype = "int32".*float32/);
    expect(() => adamwUpdate(p, p, p, p, { ...step, step: 0 })).toThrow(InvalidArgumentError);
    expect(() => adamwUpdate(p, p, p, p, { ...step, beta2: 1 })).toThrow(/adamwUpdate beta2 = 1/);
    expect(() => adamwUpdate(p, p, p, p, { ...step, lr: Number.NaN })).toThrow(/adamwUpdate lr = NaN/);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([p, wrong, ints]);
  });
});
