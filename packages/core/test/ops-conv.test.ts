import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectRelClose } from '@tessera/test-utils';
import { forwardLeak } from './gradient-check.js';
import { conv2d, Conv2d, type Conv2dArgs, InvalidArgumentError, Linear, Rng, setBackend, tf } from '../src/index.js';

/*
 * conv2d's hand-written gradients are checked two ways on random small shapes:
 * against a float64 direct-loop reference written here (every case, including
 * stride and dilation both > 1, which tfjs's own kernels reject), and against
 * the cpu backend's autodiff of the plain tfjs ops (every case tfjs supports).
 * Tolerance: 1e-4 relative to the largest reference magnitude (float32 sums of
 * at most a few hundred terms).
 */
const REL_TOL = 1e-4;

interface Case {
  batch: number;
  height: number;
  width: number;
  kernel: [number, number];
  stride: [number, number];
  dilation: [number, number];
  padding: [number, number];
  kind: 'dense' | 'depthwise' | 'grouped';
  inChannels: number;
  outChannels: number;
  groups: number;
  seed: number;
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    batch: fc.integer({ min: 1, max: 2 }),
    height: fc.integer({ min: 2, max: 7 }),
    width: fc.integer({ min: 2, max: 7 }),
    kernel: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    padding: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
    kind: fc.constantFrom('dense' as const, 'depthwise' as const, 'grouped' as const),
    perGroupIn: fc.integer({ min: 1, max: 3 }),
    perGroupOut: fc.integer({ min: 1, max: 3 }),
    groupCount: fc.integer({ min: 2, max: 3 }),
    seed: fc.integer({ min: 0, max: 1 << 30 }),
  })
  .map(({ perGroupIn, perGroupOut, groupCount, ...c }) => {
    const groups = c.kind === 'dense' ? 1 : groupCount;
    const inPerGroup = c.kind === 'depthwise' ? 1 : perGroupIn;
    return { ...c, groups, inChannels: inPerGroup * groups, outChannels: perGroupOut * groups };
  })
  .filter((c) => outSize(c.height, c.kernel[0], c.stride[0], c.padding[0], c.dilation[0]) >= 1 && outSize(c.width, c.kernel[1], c.stride[1], c.padding[1], c.dilation[1]) >= 1);

function outSize(length: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((length + 2 * p - d * (k - 1) - 1) / s) + 1;
}

function values(n: number, rng: Rng): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform() * 2 - 1;
  return out;
}

interface Problem {
  c: Case;
  xShape: [number, number, number, number];
  wShape: [number, number, number, number];
  yShape: [number, number, number, number];
  x: Float64Array;
  w: Float64Array;
  /** Upstream gradient: the loss is Σ y·r. */
  r: Float64Array;
}

function problem(c: Case): Problem {
  const rng = new Rng(c.seed);
  const xShape: Problem['xShape'] = [c.batch, c.height, c.width, c.inChannels];
  const wShape: Problem['wShape'] = [c.kernel[0], c.kernel[1], c.inChannels / c.groups, c.outChannels];
  const yShape: Problem['yShape'] = [
    c.batch,
    outSize(c.height, c.kernel[0], c.stride[0], c.padding[0], c.dilation[0]),
    outSize(c.width, c.kernel[1], c.stride[1], c.padding[1], c.dilation[1]),
    c.outChannels,
  ];
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  return { c, xShape, wShape, yShape, x: values(size(xShape), rng), w: values(size(wShape), rng), r: values(size(yShape), rng) };
}

/** PyTorch's grouped convolution, written as the defining sum, in float64, with its two gradients. */
function reference(p: Problem): { y: Float64Array; dx: Float64Array; dw: Float64Array } {
  const { c, xShape, wShape, yShape } = p;
  const [, H, W, C] = xShape;
  const [kh, kw, cg, O] = wShape;
  const [B, Ho, Wo] = yShape;
  const og = O / c.groups;
  const y = new Float64Array(p.r.length);
  const dx = new Float64Array(p.x.length);
  const dw = new Float64Array(p.w.length);
  for (let b = 0; b < B; b++)
    for (let oh = 0; oh < Ho; oh++)
      for (let ow = 0; ow < Wo; ow++)
        for (let o = 0; o < O; o++) {
          const yi = ((b * Ho + oh) * Wo + ow) * O + o;
          const g = Math.floor(o / og);
          let acc = 0;
          for (let i = 0; i < kh; i++) {
            const ih = oh * c.stride[0] + i * c.dilation[0] - c.padding[0];
            if (ih < 0 || ih >= H) continue;
            for (let j = 0; j < kw; j++) {
              const iw = ow * c.stride[1] + j * c.dilation[1] - c.padding[1];
              if (iw < 0 || iw >= W) continue;
              for (let ci = 0; ci < cg; ci++) {
                const xi = ((b * H + ih) * W + iw) * C + g * cg + ci;
                const wi = ((i * kw + j) * cg + ci) * O + o;
                acc += p.x[xi]! * p.w[wi]!;
                dx[xi]! += p.r[yi]! * p.w[wi]!;
                dw[wi]! += p.r[yi]! * p.x[xi]!;
              }
            }
          }
          y[yi] = acc;
        }
  return { y, dx, dw };
}

function args(c: Case): Conv2dArgs {
  return {
    stride: c.stride,
    padding: [
      [c.padding[0], c.padding[0]],
      [c.padding[1], c.padding[1]],
    ],
    dilation: c.dilation,
    groups: c.groups,
  };
}

type Conv = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D;

/** Value and gradients of Σ conv(x, w)·r, on the active backend. */
function run(p: Problem, conv: Conv): { y: Float32Array; dx: Float32Array; dw: Float32Array } {
  return tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from(p.x), p.xShape);
    const w = tf.tensor4d(Float32Array.from(p.w), p.wShape);
    const r = tf.tensor4d(Float32Array.from(p.r), p.yShape);
    const y = conv(x, w);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), r)))([x, w]);
    return { y: y.dataSync() as Float32Array, dx: dx!.dataSync() as Float32Array, dw: dw!.dataSync() as Float32Array };
  });
}

/** The plain tfjs ops (what conv2d computed before it had its own gradients), differentiated by tfjs. */
function plainTfConv(c: Case): Conv {
  return (x, w) => {
    const padded = tf.pad(x, [[0, 0], [c.padding[0], c.padding[0]], [c.padding[1], c.padding[1]], [0, 0]]);
    if (c.kind === 'dense') return tf.conv2d(padded, w, c.stride, 'valid', 'NHWC', c.dilation);
    if (c.kind === 'depthwise') {
      const dwKernel = tf.reshape(w, [c.kernel[0], c.kernel[1], c.inChannels, c.outChannels / c.inChannels]) as tf.Tensor4D;
      return tf.depthwiseConv2d(padded, dwKernel, c.stride, 'valid', 'NHWC', c.dilation);
    }
    const xs = tf.split(padded, c.groups, 3);
    const ws = tf.split(w, c.groups, 3);
    return tf.concat(
      xs.map((xi, g) => tf.conv2d(xi as tf.Tensor4D, ws[g] as tf.Tensor4D, c.stride, 'valid', 'NHWC', c.dilation)),
      3,
    ) as tf.Tensor4D;
  };
}

/** tfjs's conv kernels reject stride and dilation both > 1; its conv gradients reject any dilation > 1. */
const tfForwardSupports = (c: Case) => !((c.stride[0] > 1 || c.stride[1] > 1) && (c.dilation[0] > 1 || c.dilation[1] > 1));
const tfGradientSupports = (c: Case) => c.dilation[0] === 1 && c.dilation[1] === 1;

/** Forward of the plain ops wherever tfjs runs it; gradients only where tfjs can differentiate it. */
function runPlain(p: Problem): { y: Float32Array; dx?: Float32Array; dw?: Float32Array } | undefined {
  if (tfGradientSupports(p.c)) return run(p, plainTfConv(p.c));
  if (!tfForwardSupports(p.c)) return undefined;
  const x = tf.tensor4d(Float32Array.from(p.x), p.xShape);
  const w = tf.tensor4d(Float32Array.from(p.w), p.wShape);
  const y = plainTfConv(p.c)(x, w);
  const out = { y: y.dataSync() as Float32Array };
  tf.dispose([x, w, y]);
  return out;
}

beforeAll(async () => {
  await setBackend('wasm');
});

describe('conv2d forward and gradients', () => {
  it('match a float64 reference and the cpu backend autodiff of the plain tf ops, on wasm and cpu (dense, depthwise, grouped)', async () => {
    const kinds = new Set<string>();
    let gradientChecks = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        kinds.add(c.kind);
        const p = problem(c);
        const ref = reference(p);
        const ours: Conv = (x, w) => conv2d(x, w, args(c));
        const label = JSON.stringify(c);
        await setBackend('cpu');
        const cpuOurs = run(p, ours);
        const cpuPlain = runPlain(p);
        await setBackend('wasm');
        const before = tf.memory().numTensors;
        const wasmOurs = run(p, ours);
        expect(tf.memory().numTensors).toBe(before);
        const operands = [
          { data: Float32Array.from(p.x), shape: p.xShape },
          { data: Float32Array.from(p.w), shape: p.wShape },
        ];
        expect(forwardLeak((x, w) => ours(x as tf.Tensor4D, w as tf.Tensor4D), operands), 'tensors left outside tidy').toBe(0);
        for (const [name, got] of [['wasm', wasmOurs], ['cpu', cpuOurs]] as const) {
          expectRelClose(got.y, ref.y, `${name} y ${label}`, REL_TOL);
          expectRelClose(got.dx, ref.dx, `${name} dx ${label}`, REL_TOL);
          expectRelClose(got.dw, ref.dw, `${name} dw ${label}`, REL_TOL);
          if (cpuPlain) expectRelClose(got.y, cpuPlain.y, `${name} y vs cpu tf ops ${label}`, REL_TOL);
          if (cpuPlain?.dx && cpuPlain.dw) {
            gradientChecks++;
            expectRelClose(got.dx, cpuPlain.dx, `${name} dx vs cpu autodiff ${label}`, REL_TOL);
            expectRelClose(got.dw, cpuPlain.dw, `${name} dw vs cpu autodiff ${label}`, REL_TOL);
          }
        }
      }),
      { seed: 42, numRuns: 150 },
    );
    expect([...kinds].sort()).toEqual(['dense', 'depthwise', 'grouped']);
    expect(gradientChecks).toBeGreaterThan(20);
  });

  it('handles depthwise channel multipliers, stride-equals-kernel downsampling and pointwise convs (the layers conv-heavy models use)', async () => {
    const cases: Case[] = [
      { batch: 2, height: 6, width: 6, kernel: [3, 3], stride: [1, 1], dilation: [1, 1], padding: [1, 1], kind: 'depthwise', inChannels: 3, outChannels: 6, groups: 3, seed: 1 },
      { batch: 2, height: 7, width: 5, kernel: [5, 5], stride: [2, 2], dilation: [1, 1], padding: [2, 2], kind: 'depthwise', inChannels: 2, outChannels: 4, groups: 2, seed: 2 },
      { batch: 2, height: 8, width: 8, kernel: [2, 2], stride: [2, 2], dilation: [1, 1], padding: [0, 0], kind: 'dense', inChannels: 4, outChannels: 5, groups: 1, seed: 3 },
      { batch: 2, height: 5, width: 6, kernel: [1, 1], stride: [1, 1], dilation: [1, 1], padding: [0, 0], kind: 'dense', inChannels: 6, outChannels: 3, groups: 1, seed: 4 },
    ];
    for (const c of cases) {
      const p = problem(c);
      const ref = reference(p);
      await setBackend('cpu');
      const cpuPlain = run(p, plainTfConv(c));
      await setBackend('wasm');
      const got = run(p, (x, w) => conv2d(x, w, args(c)));
      for (const key of ['y', 'dx', 'dw'] as const) {
        expectRelClose(got[key], ref[key], `${key} ${JSON.stringify(c)}`, REL_TOL);
        expectRelClose(got[key], cpuPlain[key], `${key} vs cpu ${JSON.stringify(c)}`, REL_TOL);
      }
    }
  });

  it('rejects bad arguments before any compute, naming the parameter', () => {
    const x = tf.zeros([1, 4, 4, 4]) as tf.Tensor4D;
    const w = tf.zeros([3, 3, 2, 4]) as tf.Tensor4D;
    const ok: Conv2dArgs = { stride: [1, 1], padding: [[0, 0], [0, 0]], dilation: [1, 1], groups: 2 };
    const before = tf.memory().numTensors;
    expect(() => conv2d(x, w, { ...ok, groups: 1 })).toThrow(InvalidArgumentError);
    expect(() => conv2d(x, w, { ...ok, groups: 1 })).toThrow(/kernel = .*\[kh, kw, 4, out\]/);
    expect(() => conv2d(x, w, { ...ok, stride: [0, 1] })).toThrow(/stride\[0\] = 0/);
    expect(() => conv2d(x, w, { ...ok, padding: [[-1, 0], [0, 0]] })).toThrow(/padding\[0\]\[0\] = -1/);
    expect(() => conv2d(x, w, { ...ok, dilation: [3, 3] })).toThrow(/x = .*at least as large/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w]);
  });
});

describe('training a convolutional model on wasm', () => {
  it('runs SGD steps through dense, strided, depthwise and grouped Conv2d layers with a stable tensor count and a falling loss', () => {
    const rng = new Rng(7);
    const stem = new Conv2d(3, 8, 3, rng, { stride: 2, padding: 1 });
    const depthwise = new Conv2d(8, 8, 5, rng, { padding: 2, groups: 8 });
    const grouped = new Conv2d(8, 8, 3, rng, { padding: 1, groups: 2 });
    const pointwise = new Conv2d(8, 16, 1, rng);
    const head = new Linear(16, 4, rng);
    const variables = [stem, depthwise, grouped, pointwise, head].flatMap((m) => m.trainableVariables());
    const images = tf.tidy(() => tf.randomNormal([4, 12, 12, 3], 0, 1, 'float32', 3)) as tf.Tensor4D;
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4);
    const loss = () =>
      tf.tidy(() => {
        const h = tf.relu(stem.forward(images));
        const features = pointwise.forward(tf.add(grouped.forward(tf.relu(depthwise.forward(h))), h) as tf.Tensor4D);
        const logits = head.forward(tf.mean(features, [1, 2]));
        return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
      });
    const losses: number[] = [];
    const counts: number[] = [];
    for (let step = 0; step < 6; step++) {
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(loss, variables);
        for (const v of variables) v.assign(tf.sub(v, tf.mul(grads[v.name]!, 0.2)));
        losses.push(value.dataSync()[0]!);
      });
      counts.push(tf.memory().numTensors);
    }
    expect(tf.getBackend()).toBe('wasm');
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!);
    tf.dispose([images, labels]);
  });
});
