import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { gelu, setBackend, tf } from '../src/index.js';
import { overrideWasmVersionForTesting } from '../src/ops/wasm-adapter.js';
import { wasmGeluActive } from '../src/ops/wasm-gelu.js';

/*
 * The SIMD GELU kernels (src/ops/kernels/gelu.wat) against float64: value x·Φ(x) and
 * derivative Φ(x) + x·φ(x), on a dense grid over [-12, 12] (both tails, the clamp at
 * |x/√2| = 4 and exp's underflow) and lengths that are not multiples of 4 (the scalar tail).
 *
 * Tolerance: |ours − ref| ≤ 1.5e-6 + 1e-6·|ref|. The float32 formula ½x(1 + erf(x/√2)),
 * which PyTorch and tfjs both evaluate, loses digits to cancellation for x ≪ 0 however
 * exact erf is (tfjs's composite is off by up to 4.5e-7 on this grid, the kernel by 9e-7
 * at x ≈ −5.5); for |x| ≤ 3 the kernel is within 5e-7 (4e-7 measured).
 */

/** erf in float64: Maclaurin series below 3, Lentz-free continued fraction for erfc above. */
function erf64(x: number): number {
  const t = Math.abs(x);
  if (t < 3) {
    let sum = 0;
    let term = x;
    for (let k = 0; k < 200; k++) {
      sum += term / (2 * k + 1);
      term *= (-x * x) / (k + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  let cf = 0;
  for (let k = 80; k >= 1; k--) cf = k / 2 / (t + cf);
  return Math.sign(x) * (1 - Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + cf));
}

const cdf64 = (x: number) => 0.5 * (1 + erf64(x / Math.SQRT2));
const gelu64 = (x: number) => x * cdf64(x);
const geluGrad64 = (x: number) => cdf64(x) + (x * Math.exp((-x * x) / 2)) / Math.sqrt(2 * Math.PI);

function worstExcess(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  let worst = -Infinity;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - ref[i]!) - (1.5e-6 + 1e-6 * Math.abs(ref[i]!)));
  return worst;
}

/** Value and input gradient of sum(gelu(x)·r) for x on a grid. */
function run(xs: Float32Array, r: Float32Array): { y: Float32Array; g: Float32Array } {
  const x = tf.tensor1d(xs);
  const weights = tf.tensor1d(r);
  const y = gelu(x);
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gelu(t), weights)))(x);
  const out = { y: y.dataSync() as Float32Array, g: g.dataSync() as Float32Array };
  tf.dispose([x, weights, y, g]);
  return out;
}

const grid = (n: number) => Float32Array.from({ length: n }, (_, i) => -12 + (24 * i) / (n - 1));

describe('SIMD GELU kernel (wasm)', () => {
  beforeAll(async () => {
    await setBackend('wasm');
  });
  afterEach(() => {
    overrideWasmVersionForTesting(undefined);
    vi.restoreAllMocks();
  });

  it('the float64 reference itself: erf(0.5), erf(1), erf(3.5) to 1e-15 (Abramowitz & Stegun table 7.1)', () => {
    expect(Math.abs(erf64(0.5) - 0.5204998778130465)).toBeLessThan(1e-15);
    expect(Math.abs(erf64(1) - 0.8427007929497149)).toBeLessThan(1e-15);
    expect(Math.abs(erf64(-3.5) + 0.9999992569016276)).toBeLessThan(1e-15);
  });

  it('serves the wasm backend', () => {
    expect(wasmGeluActive()).toBe(true);
  });

  it.each([20001, 4, 5, 6, 7, 1])('value and gradient agree with float64 on %i points over [-12, 12], leak-free', (n) => {
    const xs = n === 1 ? Float32Array.of(-0.75) : grid(n);
    const r = Float32Array.from(xs, (_, i) => 1 - ((i * 7) % 5) / 2.5);
    const before = tf.memory().numTensors;
    const { y, g } = run(xs, r);
    expect(tf.memory().numTensors).toBe(before);
    expect(worstExcess(y, Array.from(xs, gelu64))).toBeLessThanOrEqual(0);
    expect(worstExcess(g, Array.from(xs, (x, i) => r[i]! * geluGrad64(x)))).toBeLessThanOrEqual(0);
  });

  it('within |x| ≤ 3 the value is within 5e-7 of float64, and NaN stays NaN', () => {
    const xs = Float32Array.from({ length: 6001 }, (_, i) => -3 + i / 1000);
    const { y } = run(xs, new Float32Array(xs.length).fill(1));
    let worst = 0;
    xs.forEach((x, i) => (worst = Math.max(worst, Math.abs(y[i]! - gelu64(x)))));
    expect(worst).toBeLessThanOrEqual(5e-7);
    // index 0 goes through the SIMD loop, index 4 through the scalar tail
    const nan = run(Float32Array.of(Number.NaN, 1, 2, 3, Number.NaN), new Float32Array(5).fill(1));
    for (const i of [0, 4]) {
      expect(Number.isNaN(nan.y[i]!)).toBe(true);
      expect(Number.isNaN(nan.g[i]!)).toBe(true);
    }
  });

  it('equals the tfjs composite it replaces (the fallback on other tfjs-wasm versions) within the same tolerance', () => {
    const xs = grid(4001);
    const r = new Float32Array(xs.length).fill(1);
    const fused = run(xs, r);
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    overrideWasmVersionForTesting('4.23.0');
    expect(wasmGeluActive()).toBe(false);
    const composite = run(xs, r);
    expect(worstExcess(fused.y, composite.y)).toBeLessThanOrEqual(0);
    expect(worstExcess(fused.g, composite.g)).toBeLessThanOrEqual(0);
  });
});
