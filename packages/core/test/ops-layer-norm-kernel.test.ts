import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { layerNorm, linear, setBackend, tf } from '../src/index.js';
import { WASM_COLUMN_SUM_KERNEL, WASM_LAYER_NORM_GRAD_KERNEL, WASM_LAYER_NORM_KERNEL, wasmLayerNormActive } from '../src/ops/wasm-layer-norm.js';

/*
 * The SIMD LayerNorm kernels (src/ops/kernels/layer-norm.wat) and the column sums behind
 * linear layers' bias gradients, against a float64 reference written out here:
 * y = (x − μ)/√(σ² + ε)·w + b per row (biased σ²), and the gradients of L = Σ y·r by
 * the chain rule term by term (not the closed form the kernel uses):
 * dL/dx_j = Σ_i r_i w_i ∂x̂_i/∂x_j with ∂x̂_i/∂x_j = s(δ_ij − 1/C) − x̂_i x̂_j s/C, s = 1/σ.
 *
 * Tolerance: |ours − ref| ≤ 1e-5·(|ref| + mean |ref| over the tensor), float32 rounding
 * of sums over up to a few hundred terms (measured worst: well under half of it).
 */

interface Case {
  readonly x: Float64Array;
  readonly w: Float64Array;
  readonly b: Float64Array;
  readonly r: Float64Array;
  readonly rows: number;
  readonly c: number;
}

function makeCase(rows: number, c: number, offset: number): Case {
  // A fixed, irrational-stepped pattern: no generator needed, values spread over [-2, 2] around `offset`.
  const wave = (i: number, k: number) => 2 * Math.sin(i * k + 0.3 * k);
  return {
    x: Float64Array.from({ length: rows * c }, (_, i) => Math.fround(offset + wave(i, 1.37) + 0.1 * wave(i, 0.11))),
    w: Float64Array.from({ length: c }, (_, i) => Math.fround(1 + 0.5 * wave(i, 2.1))),
    b: Float64Array.from({ length: c }, (_, i) => Math.fround(0.25 * wave(i, 0.7))),
    r: Float64Array.from({ length: rows * c }, (_, i) => Math.fround(wave(i, 0.53))),
    rows,
    c,
  };
}

function reference({ x, w, b, r, rows, c }: Case, eps: number) {
  const y = new Float64Array(rows * c);
  const dx = new Float64Array(rows * c);
  const dw = new Float64Array(c);
  const db = new Float64Array(c);
  for (let row = 0; row < rows; row++) {
    const o = row * c;
    let mean = 0;
    for (let j = 0; j < c; j++) mean += x[o + j]!;
    mean /= c;
    let variance = 0;
    for (let j = 0; j < c; j++) variance += (x[o + j]! - mean) ** 2;
    variance /= c;
    const s = 1 / Math.sqrt(variance + eps);
    const xhat = Array.from({ length: c }, (_, j) => (x[o + j]! - mean) * s);
    for (let i = 0; i < c; i++) {
      y[o + i] = xhat[i]! * w[i]! + b[i]!;
      dw[i] = dw[i]! + r[o + i]! * xhat[i]!;
      db[i] = db[i]! + r[o + i]!;
    }
    for (let j = 0; j < c; j++) {
      let sum = 0;
      for (let i = 0; i < c; i++) sum += r[o + i]! * w[i]! * (s * ((i === j ? 1 : 0) - 1 / c) - (xhat[i]! * xhat[j]! * s) / c);
      dx[o + j] = sum;
    }
  }
  return { y, dx, dw, db };
}

function worstExcess(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  let meanAbs = 0;
  for (let i = 0; i < ref.length; i++) meanAbs += Math.abs(ref[i]!) / ref.length;
  let worst = -Infinity;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - ref[i]!) - 1e-5 * (Math.abs(ref[i]!) + meanAbs));
  return worst;
}

/** Value and gradients of Σ layerNorm(x)·r through the public op; x shaped [2, rows/2, c] when rows is even. */
function run(k: Case, eps: number) {
  const shape = k.rows % 2 === 0 ? [2, k.rows / 2, k.c] : [k.rows, k.c];
  const x = tf.tensor(Float32Array.from(k.x), shape);
  const w = tf.tensor1d(Float32Array.from(k.w));
  const b = tf.tensor1d(Float32Array.from(k.b));
  const r = tf.tensor(Float32Array.from(k.r), shape);
  const y = layerNorm(x, w, b, eps);
  const grads = tf.grads((xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => tf.sum(tf.mul(layerNorm(xs, ws as tf.Tensor1D, bs as tf.Tensor1D, eps), r)))([x, w, b]);
  const out = { y: y.dataSync(), dx: grads[0]!.dataSync(), dw: grads[1]!.dataSync(), db: grads[2]!.dataSync() };
  tf.dispose([x, w, b, r, y, ...grads]);
  return out;
}

function expectMatches(k: Case, eps: number) {
  const ref = reference(k, eps);
  const ours = run(k, eps);
  expect(worstExcess(ours.y, ref.y)).toBeLessThanOrEqual(0);
  expect(worstExcess(ours.dx, ref.dx)).toBeLessThanOrEqual(0);
  expect(worstExcess(ours.dw, ref.dw)).toBeLessThanOrEqual(0);
  expect(worstExcess(ours.db, ref.db)).toBeLessThanOrEqual(0);
}

/** Names of the kernels `f` runs. */
function kernelsRun(f: () => void): Set<string> {
  const names = new Set<string>();
  const engine = tf.engine();
  const original = engine.runKernel.bind(engine);
  const spy = vi.spyOn(engine, 'runKernel').mockImplementation((name, ...rest) => {
    names.add(name);
    return original(name, ...rest);
  });
  try {
    f();
  } finally {
    spy.mockRestore();
  }
  return names;
}

describe.each(['wasm', 'cpu'] as const)('LayerNorm and bias-gradient column sums on %s', (backend) => {
  let previous: Parameters<typeof setBackend>[0];
  beforeAll(async () => {
    previous = tf.getBackend() as typeof previous;
    await setBackend(backend);
  });
  afterAll(async () => {
    await setBackend(previous);
  });

  it(`${backend === 'wasm' ? 'runs the SIMD kernels' : 'runs the composite'}`, () => {
    const x = tf.ones([4, 8]);
    const w = tf.ones([8]) as tf.Tensor1D;
    const names = kernelsRun(() => tf.dispose(tf.grads((a: tf.Tensor, v: tf.Tensor) => tf.sum(layerNorm(linear(a, tf.reshape(v, [8, 8]) as tf.Tensor2D, w), w, w, 1e-6)))([x, tf.ones([64])])));
    const fused = [WASM_LAYER_NORM_KERNEL, WASM_LAYER_NORM_GRAD_KERNEL, WASM_COLUMN_SUM_KERNEL];
    expect(wasmLayerNormActive()).toBe(backend === 'wasm');
    for (const name of fused) expect(names.has(name)).toBe(backend === 'wasm');
    tf.dispose([x, w]);
  });

  it.each([
    [6, 192, 0, 1e-6],
    [5, 8, 3, 1e-5],
    [4, 12, -40, 1e-6],
    [3, 6, 1, 1e-5],
    [4, 1, 0, 1e-5],
  ])('value and gradients of x, weight and bias agree with float64: %i rows of %i, mean %i, eps %f', (rows, c, offset, eps) => {
    expectMatches(makeCase(rows, c, offset), eps);
  });

  it('a constant row gives b and zero gradient for x (σ = 0, only eps under the root)', () => {
    const k = { ...makeCase(2, 8, 0), x: new Float64Array(16).fill(3) };
    expectMatches(k, 1e-5);
  });

  it('a linear layer’s bias gradient is the column sum of dy, tail columns included', () => {
    const rows = 7;
    const cols = 10;
    const x = tf.tensor2d(Float32Array.from({ length: rows * 3 }, (_, i) => Math.sin(i)), [rows, 3]);
    const w = tf.tensor2d(Float32Array.from({ length: 3 * cols }, (_, i) => Math.cos(i)), [3, cols]);
    const dyValues = Float32Array.from({ length: rows * cols }, (_, i) => Math.fround(Math.sin(0.7 * i) * 3));
    const dy = tf.tensor2d(dyValues, [rows, cols]);
    const [db] = tf.grads((bias: tf.Tensor) => tf.sum(tf.mul(linear(x, w, bias as tf.Tensor1D), dy)))([tf.zeros([cols])]);
    const ref = Array.from({ length: cols }, (_, j) => Array.from({ length: rows }, (_, i) => dyValues[i * cols + j]!).reduce((s, v) => s + v, 0));
    expect(worstExcess(db!.dataSync(), ref)).toBeLessThanOrEqual(0);
    tf.dispose([x, w, dy, db!]);
  });

  it('is leak-free: a call outside tf.tidy and repeated training-style steps keep numTensors stable', () => {
    const x = tf.tensor3d(Float32Array.from({ length: 2 * 3 * 8 }, (_, i) => Math.sin(i)), [2, 3, 8]);
    const w = tf.variable(tf.ones([8]));
    const b = tf.variable(tf.zeros([8]));
    const before = tf.memory().numTensors;
    const y = layerNorm(x, w as tf.Tensor1D, b as tf.Tensor1D, 1e-6);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    for (let step = 0; step < 3; step++) {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(layerNorm(x, w as tf.Tensor1D, b as tf.Tensor1D, 1e-6))), [w, b]);
      tf.dispose([value, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
    }
    tf.dispose([x, w, b]);
  });
});
