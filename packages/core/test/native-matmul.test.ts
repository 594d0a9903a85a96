import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  batchMatMul,
  configureNativeMatMul,
  createModel,
  InvalidArgumentError,
  linear,
  NATIVE_MIN_MACS,
  nativeMatMulStatus,
  NativeMatMulUnavailableError,
  setBackend,
  softTargetCrossEntropy,
  tf,
} from '../src/index.js';
import { OnnxRuntimeUnavailable, overrideOnnxRuntimeLoaderForTesting } from '../src/native/onnxruntime.js';

/*
 * Every variant the native matmul routes, against a float64 product computed
 * here and against tfjs's own wasm kernel. Both sum float32 products in a
 * different order than the reference, so the tolerance is relative to the sum
 * of |a||b| over the inner axis: 1e-5 of it (float32's epsilon is 1.2e-7;
 * inner sizes here are at most 200).
 */

interface Case {
  name: string;
  a: number[];
  b: number[];
  transposeA?: boolean;
  transposeB?: boolean;
  bias?: number[];
  relu?: boolean;
  /**
   * tfjs-wasm 4.22's own _FusedMatMul is wrong here (a one-value bias lands on the
   * first column only; bias with relu after a transposed or batched product), while
   * the native result matches the float64 product: compared with float64 only.
   */
  tfjsWasmWrong?: boolean;
}

const CASES: Case[] = [
  { name: 'plain 2-D', a: [80, 90], b: [90, 80] },
  { name: 'transA', a: [90, 80], b: [90, 80], transposeA: true },
  { name: 'transB', a: [80, 90], b: [80, 90], transposeB: true },
  { name: 'transA and transB', a: [90, 80], b: [80, 90], transposeA: true, transposeB: true },
  { name: 'fused bias', a: [80, 90], b: [90, 80], bias: [80] },
  { name: 'fused bias of one value', a: [80, 90], b: [90, 80], bias: [1], tfjsWasmWrong: true },
  { name: 'fused bias + relu, transB', a: [80, 90], b: [80, 90], bias: [80], relu: true, transposeB: true, tfjsWasmWrong: true },
  { name: 'fused relu without bias', a: [80, 90], b: [90, 80], relu: true },
  { name: 'batched rank 3', a: [6, 40, 50], b: [6, 50, 45] },
  { name: 'batched rank 3, transA and transB', a: [6, 50, 40], b: [6, 45, 50], transposeA: true, transposeB: true },
  { name: 'batched, a broadcast (batch 1)', a: [1, 40, 50], b: [6, 50, 45] },
  { name: 'batched, b broadcast (rank 2)', a: [6, 40, 50], b: [50, 45], transposeB: false },
  { name: 'batched rank 4 (images × heads)', a: [2, 3, 40, 64], b: [2, 3, 40, 64], transposeB: true },
  { name: 'batched fused bias + relu', a: [6, 40, 50], b: [6, 50, 45], bias: [45], relu: true, tfjsWasmWrong: true },
  { name: 'rank 3 with batch 1 (a linear layer through tf.fused.matMul)', a: [1, 200, 64], b: [1, 64, 96], bias: [96] },
];

function values(shape: number[], seed: number): Float32Array {
  const size = shape.reduce((x, y) => x * y, 1);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = Math.sin(seed * 7.31 + i * 0.618) * 1.5;
  return out;
}

/** The product in float64 and, per element, Σ|a||b| over the inner axis (the scale of float32 rounding). */
function reference(c: Case, a: Float32Array, b: Float32Array, bias: Float32Array | null) {
  const batchOf = (s: number[]) => s.slice(0, -2).reduce((x, y) => x * y, 1);
  const [ra, ca] = c.a.slice(-2) as [number, number];
  const [rb, cb] = c.b.slice(-2) as [number, number];
  const [m, k] = c.transposeA ? [ca, ra] : [ra, ca];
  const n = c.transposeB ? rb : cb;
  const [batchA, batchB] = [batchOf(c.a), batchOf(c.b)];
  const batch = Math.max(batchA, batchB);
  const value = new Float64Array(batch * m * n);
  const scale = new Float64Array(batch * m * n);
  for (let p = 0; p < batch; p++) {
    const oa = (batchA === 1 ? 0 : p) * ra * ca;
    const ob = (batchB === 1 ? 0 : p) * rb * cb;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = bias ? bias[bias.length === 1 ? 0 : j]! : 0;
        let abs = Math.abs(sum);
        for (let q = 0; q < k; q++) {
          const x = a[oa + (c.transposeA ? q * ca + i : i * ca + q)]!;
          const y = b[ob + (c.transposeB ? j * cb + q : q * cb + j)]!;
          sum += x * y;
          abs += Math.abs(x * y);
        }
        value[(p * m + i) * n + j] = c.relu ? Math.max(0, sum) : sum;
        scale[(p * m + i) * n + j] = abs;
      }
    }
  }
  return { value, scale };
}

function product(c: Case, a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor | null): tf.Tensor {
  const [transposeA, transposeB] = [!!c.transposeA, !!c.transposeB];
  if (bias || c.relu) {
    return tf.fused.matMul({ a, b, transposeA, transposeB, ...(bias ? { bias } : {}), activation: c.relu ? 'relu' : 'linear' });
  }
  return tf.matMul(a, b, transposeA, transposeB);
}

/** Largest |actual − expected| / Σ|a||b| over the elements. */
function relativeError(actual: ArrayLike<number>, expected: { value: Float64Array; scale: Float64Array }): number {
  let worst = 0;
  for (let i = 0; i < expected.value.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected.value[i]!) / Math.max(expected.scale[i]!, 1e-30));
  return worst;
}

beforeAll(async () => {
  await setBackend('wasm', { nativeMatMul: 'on', nativeMatMulThreads: 1 });
});

afterAll(() => {
  configureNativeMatMul({ mode: 'off' });
});

describe('native matmul (onnxruntime-node) on the wasm backend', () => {
  it('is on, with the threads asked for', () => {
    const status = nativeMatMulStatus();
    expect(status).toMatchObject({ mode: 'on', active: true, threads: 1 });
    expect(status.provider).toMatch(/^onnxruntime-node 1\.30\./);
  });

  it.each(CASES)('$name: equals a float64 product and tfjs’s own kernel (relative 1e-5)', (c) => {
    const [av, bv] = [values(c.a, 1), values(c.b, 2)];
    const biasValues = c.bias ? values(c.bias, 3) : null;
    const [a, b] = [tf.tensor(av, c.a), tf.tensor(bv, c.b)];
    const bias = biasValues ? tf.tensor(biasValues, c.bias) : null;
    const expected = reference(c, av, bv, biasValues);

    configureNativeMatMul({ mode: 'off' });
    const own = product(c, a, b, bias);
    configureNativeMatMul({ mode: 'on', threads: 1 });
    const before = nativeMatMulStatus().calls.native;
    const native = product(c, a, b, bias);
    // It really ran natively (a silent fallback would pass the value checks too).
    expect(nativeMatMulStatus().calls.native).toBe(before + 1);
    expect(native.shape).toEqual(own.shape);
    expect(relativeError(native.dataSync(), expected)).toBeLessThan(1e-5);
    if (!c.tfjsWasmWrong) expect(relativeError(own.dataSync(), expected)).toBeLessThan(1e-5);
    else expect(relativeError(own.dataSync(), expected)).toBeGreaterThan(1e-3);
    tf.dispose([a, b, own, native, ...(bias ? [bias] : [])]);
  });

  it('two threads give the same values as one (within 1e-5 relative)', () => {
    const c = CASES[0]!;
    const [av, bv] = [values(c.a, 4), values(c.b, 5)];
    const [a, b] = [tf.tensor(av, c.a), tf.tensor(bv, c.b)];
    configureNativeMatMul({ mode: 'on', threads: 2 });
    const y = tf.matMul(a, b);
    expect(relativeError(y.dataSync(), reference(c, av, bv, null))).toBeLessThan(1e-5);
    configureNativeMatMul({ mode: 'on', threads: 1 });
    tf.dispose([a, b, y]);
  });

  it('hands to the original kernels what it does not route: tiny products, other activations, PReLU weights', () => {
    const small = [tf.tensor(values([8, 8], 1), [8, 8]), tf.tensor(values([8, 8], 2), [8, 8])] as const;
    expect(8 * 8 * 8).toBeLessThan(NATIVE_MIN_MACS);
    const big = [tf.tensor(values([80, 90], 1), [80, 90]), tf.tensor(values([90, 80], 2), [90, 80])] as const;
    const { native, fallback } = nativeMatMulStatus().calls;
    const outputs = [
      tf.matMul(small[0], small[1]),
      tf.fused.matMul({ a: big[0], b: big[1], activation: 'elu' }),
      tf.fused.matMul({ a: big[0], b: big[1], activation: 'prelu', preluActivationWeights: tf.scalar(0.1) }),
    ];
    expect(nativeMatMulStatus().calls).toEqual({ native, fallback: fallback + 3 });
    const expected = reference({ name: 'small', a: [8, 8], b: [8, 8] }, values([8, 8], 1), values([8, 8], 2), null);
    expect(relativeError(outputs[0]!.dataSync(), expected)).toBeLessThan(1e-5);
    // elu(x) = x for x > 0, exp(x) − 1 otherwise (values from the float64 product).
    const linear = reference({ name: 'big', a: [80, 90], b: [90, 80] }, values([80, 90], 1), values([90, 80], 2), null);
    const elu = { value: linear.value.map((v) => (v > 0 ? v : Math.expm1(v))), scale: linear.scale };
    expect(relativeError(outputs[1]!.dataSync(), elu)).toBeLessThan(1e-5);
    tf.dispose([...small, ...big, ...outputs]);
  });

  it('leaves small batched products (attention at small sizes) to core’s SIMD kernel, not tfjs’s scalar batched loop', () => {
    const [a, b] = [tf.tensor(values([4, 17, 32], 1), [4, 17, 32]), tf.tensor(values([4, 17, 32], 2), [4, 17, 32])];
    expect(4 * 17 * 32 * 17).toBeLessThan(NATIVE_MIN_MACS);
    const calls = nativeMatMulStatus().calls;
    const y = batchMatMul(a, b, false, true);
    expect(nativeMatMulStatus().calls).toEqual(calls);
    const expected = reference({ name: 'small batched', a: [4, 17, 32], b: [4, 17, 32], transposeB: true }, values([4, 17, 32], 1), values([4, 17, 32], 2), null);
    expect(relativeError(y.dataSync(), expected)).toBeLessThan(1e-5);
    tf.dispose([a, b, y]);
  });

  it('a linear layer’s backward hands its products over transposed (Gemm transA/transB), without Transpose kernels', () => {
    const x = tf.randomNormal([64, 96], 0, 1, 'float32', 5);
    const w = tf.randomNormal([96, 128], 0, 1, 'float32', 6);
    const b = tf.zeros([128]);
    const names: string[] = [];
    const engine = tf.engine();
    const original = engine.runKernel.bind(engine);
    const spy = vi.spyOn(engine, 'runKernel').mockImplementation((name, ...rest) => {
      names.push(name);
      return original(name, ...rest);
    });
    const grads = tf.grads((xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => tf.sum(tf.square(linear(xs, ws as tf.Tensor2D, bs as tf.Tensor1D))))([x, w, b]);
    spy.mockRestore();
    expect(names).not.toContain('Transpose');
    // dx = dy·Wᵀ and dW = xᵀ·dy against tfjs's own kernels (2·y = dy)
    configureNativeMatMul({ mode: 'off' });
    const own = tf.grads((xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => tf.sum(tf.square(linear(xs, ws as tf.Tensor2D, bs as tf.Tensor1D))))([x, w, b]);
    configureNativeMatMul({ mode: 'on', threads: 1 });
    own.forEach((g, i) => {
      const [p, q] = [g.dataSync(), grads[i]!.dataSync()];
      const scale = Math.max(...Array.from(p, Math.abs));
      p.forEach((v, j) => expect(Math.abs(v - q[j]!)).toBeLessThanOrEqual(1e-5 * scale));
    });
    tf.dispose([x, w, b, ...grads, ...own]);
  });

  it('still raises tfjs’s error for mismatched inner dimensions', () => {
    const [a, b] = [tf.zeros([70, 90]), tf.zeros([80, 90])];
    expect(() => tf.matMul(a, b)).toThrow(/inner shapes \(90\) and \(80\)/);
    tf.dispose([a, b]);
  });

  it('reads tensors at their current place after the wasm heap grows (views are made per call)', () => {
    const c = CASES[4]!;
    const [av, bv, biasValues] = [values(c.a, 6), values(c.b, 7), values(c.bias!, 8)];
    const [a, b, bias] = [tf.tensor(av, c.a), tf.tensor(bv, c.b), tf.tensor(biasValues, c.bias)];
    const first = product(c, a, b, bias);
    const memory = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm;
    const heapBefore = memory.HEAPU8.buffer.byteLength;
    // 256 MB more than before forces the heap to grow; every older view of it is detached.
    const filler = tf.zeros([64 * 1024 * 1024]);
    const second = product(c, a, b, bias);
    expect((tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer.byteLength).toBeGreaterThan(heapBefore);
    const expected = reference(c, av, bv, biasValues);
    expect(relativeError(first.dataSync(), expected)).toBeLessThan(1e-5);
    expect(relativeError(second.dataSync(), expected)).toBeLessThan(1e-5);
    tf.dispose([a, b, bias, first, second, filler]);
  });

  it('leaves no tensor behind, inside or outside tf.tidy', () => {
    const [a, b, bias] = [tf.tensor(values([80, 90], 1), [80, 90]), tf.tensor(values([90, 80], 2), [90, 80]), tf.tensor(values([80], 3), [80])];
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const y = tf.fused.matMul({ a, b, bias, transposeB: false });
      const z = tf.matMul(a, b);
      tf.dispose([y, z]);
      tf.tidy(() => batchMatMul(tf.reshape(a, [2, 40, 90]), tf.reshape(tf.tile(b, [2, 1]), [2, 90, 80]))).dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b, bias]);
  });

  it('a training step of a small ViT equals the step on tfjs’s own kernels (loss 1e-5, gradients 1e-4 of their scale) and leaks nothing', () => {
    const model = createModel('deit_tiny_patch16_224', { imgSize: 32, patchSize: 8, numClasses: 5, seed: 3 });
    const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const targets = tf.oneHot(tf.tensor1d([0, 3, 1, 4], 'int32'), 5) as tf.Tensor2D;
    const variables = model.trainableVariables();
    const step = () => tf.variableGrads(() => softTargetCrossEntropy(model.forward(x, { training: true }).logits as tf.Tensor2D, targets), variables);

    configureNativeMatMul({ mode: 'off' });
    const own = step();
    configureNativeMatMul({ mode: 'on', threads: 1 });
    const before = nativeMatMulStatus().calls.native;
    const tensorsBefore = tf.memory().numTensors;
    const native = step();
    expect(nativeMatMulStatus().calls.native - before).toBeGreaterThan(12 * 4);
    expect(Math.abs(native.value.dataSync()[0]! - own.value.dataSync()[0]!)).toBeLessThan(1e-5);
    for (const name of Object.keys(own.grads)) {
      const [g, h] = [own.grads[name]!.dataSync(), native.grads[name]!.dataSync()];
      let scale = 0;
      let diff = 0;
      for (let i = 0; i < g.length; i++) {
        scale = Math.max(scale, Math.abs(g[i]!));
        diff = Math.max(diff, Math.abs(g[i]! - h[i]!));
      }
      expect(diff, name).toBeLessThanOrEqual(1e-4 * scale + 1e-9);
    }
    tf.dispose([native.value, ...Object.values(native.grads)]);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    tf.dispose([own.value, ...Object.values(own.grads), x, targets]);
    model.dispose();
  });
});

describe('native matmul control and fallback', () => {
  afterEach(async () => {
    overrideOnnxRuntimeLoaderForTesting(undefined);
    delete process.env.TESSERA_NATIVE_MATMUL;
    await setBackend('wasm', { nativeMatMul: 'off' });
  });

  it('without onnxruntime-node, auto keeps tfjs’s kernels silently and says why; on fails naming the package', async () => {
    const originalKernel = (await setBackend('wasm', { nativeMatMul: 'off' }), tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc);
    overrideOnnxRuntimeLoaderForTesting(() => {
      throw new OnnxRuntimeUnavailable('the optional package onnxruntime-node is not installed');
    });
    const warnings: unknown[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => warnings.push(args);
    try {
      await setBackend('wasm');
    } finally {
      console.warn = warn;
    }
    expect(warnings).toEqual([]);
    expect(nativeMatMulStatus()).toMatchObject({ mode: 'auto', active: false, reason: 'the optional package onnxruntime-node is not installed' });
    expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).toBe(originalKernel);
    const [a, b] = [tf.tensor(values([80, 90], 1), [80, 90]), tf.tensor(values([90, 80], 2), [90, 80])];
    const y = tf.matMul(a, b);
    expect(relativeError(y.dataSync(), reference({ name: 'plain', a: [80, 90], b: [90, 80] }, values([80, 90], 1), values([90, 80], 2), null))).toBeLessThan(1e-5);
    tf.dispose([a, b, y]);
    await expect(setBackend('wasm', { nativeMatMul: 'on' })).rejects.toThrow(NativeMatMulUnavailableError);
    await expect(setBackend('wasm', { nativeMatMul: 'on' })).rejects.toThrow(/onnxruntime-node is not installed/);
  });

  it('the TESSERA_NATIVE_MATMUL environment variable sets the default; explicit options win', async () => {
    process.env.TESSERA_NATIVE_MATMUL = 'off';
    await setBackend('wasm');
    expect(nativeMatMulStatus()).toMatchObject({ mode: 'off', active: false });
    await setBackend('wasm', { nativeMatMul: 'auto', nativeMatMulThreads: 1 });
    expect(nativeMatMulStatus()).toMatchObject({ mode: 'auto', active: true, threads: 1 });
  });

  it('on the cpu backend, auto stays off and on refuses', async () => {
    await setBackend('cpu');
    expect(nativeMatMulStatus()).toMatchObject({ active: false, reason: expect.stringContaining('the backend is cpu') });
    await expect(setBackend('cpu', { nativeMatMul: 'on' })).rejects.toThrow(/replaces the wasm backend's kernels/);
  });

  it('refuses bad options by name before switching anything', async () => {
    await expect(setBackend('wasm', { nativeMatMul: 'yes' as never })).rejects.toThrow(InvalidArgumentError);
    await expect(setBackend('wasm', { nativeMatMul: 'yes' as never })).rejects.toThrow(/nativeMatMul.*yes.*auto, on, off/);
    await expect(setBackend('wasm', { nativeMatMulThreads: 0 })).rejects.toThrow(/nativeMatMulThreads.*0/);
    process.env.TESSERA_NATIVE_MATMUL = 'fast';
    await expect(setBackend('wasm')).rejects.toThrow(/TESSERA_NATIVE_MATMUL.*fast/);
    expect(() => configureNativeMatMul({ threads: 1.5 })).toThrow(/threads.*1\.5/);
  });
});
