import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Attention,
  BatchNorm2d,
  Conv2d,
  Dropout,
  DropPath,
  dropPathSchedule,
  ForwardContext,
  gelu,
  geluTanh,
  LayerNorm,
  Linear,
  loadTorchStateDict,
  Rng,
  setBackend,
  tf,
  TransformerBlock,
} from '../src/index.js';
import { expectClose, expectNoLeak, fixtureTensor, nchwToNhwc, type FixtureTensor } from './helpers.js';

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/layers.json', import.meta.url), 'utf8'));
const evalCtx = () => new ForwardContext(false);

// Float32 arithmetic against float64 PyTorch references: 1e-4 absolute for O(1)–O(10) values.
const TOL = 1e-4;

beforeAll(async () => {
  await setBackend('wasm');
});

describe('Linear', () => {
  it('computes x·W + b on a hand-checked case, over any leading axes', () => {
    const layer = new Linear(2, 3, new Rng(0));
    layer.loadStateDict({ weight: tf.tensor2d([[1, 2, 3], [4, 5, 6]]), bias: tf.tensor1d([0.5, -1, 2]) });
    const y = layer.forward(tf.tensor3d([[[1, 1]], [[2, -1]]]));
    // [1,1]·W = [5,7,9]; [2,-1]·W = [-2,-1,0]
    expectClose(y, [5.5, 6, 11, -1.5, -2, 2], 1e-6);
    expect(y.shape).toEqual([2, 1, 3]);
  });

  it('initialises weights as timm (trunc normal, std 0.02) and biases to zero, deterministically', () => {
    const a = new Linear(64, 64, new Rng(7));
    const b = new Linear(64, 64, new Rng(7));
    const w = Array.from(a.weight.dataSync());
    expect(Array.from(w)).toEqual(Array.from(b.weight.dataSync()));
    const mean = w.reduce((s, v) => s + v, 0) / w.length;
    const std = Math.sqrt(w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(0.002);
    expect(std).toBeGreaterThan(0.018);
    expect(std).toBeLessThan(0.022);
    expect(Array.from(a.bias!.dataSync()).every((v) => v === 0)).toBe(true);
  });
});

describe('Conv2d against PyTorch float64', () => {
  for (const c of fixtures.conv2d as Array<Record<string, any>>) {
    it(`${c.name}: k${c.kernel} s${c.stride} p${c.padding} d${c.dilation} g${c.groups}`, () => {
      const conv = new Conv2d(c.in, c.out, c.kernel, new Rng(0), { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups });
      loadTorchStateDict(conv, { weight: fixtureTensor(c.weight), bias: fixtureTensor(c.bias) });
      const y = conv.forward(nchwToNhwc(fixtureTensor(c.x)));
      const expected = nchwToNhwc(fixtureTensor(c.y));
      expect(y.shape).toEqual(expected.shape);
      expect(conv.outputSize(c.x.shape[2], c.x.shape[3])).toEqual([expected.shape[1], expected.shape[2]]);
      expectClose(y, expected.dataSync(), TOL);
    });
  }

  it('refuses groups that do not divide the channels, naming the parameter', () => {
    expect(() => new Conv2d(4, 6, 3, new Rng(0), { groups: 4 })).toThrow(/groups = 4 .*divisor of both inChannels \(4\) and outChannels \(6\)/);
  });
});

describe('norms', () => {
  it('LayerNorm matches PyTorch (eps 1e-6)', () => {
    const f = fixtures.layer_norm;
    const ln = new LayerNorm(5, new Rng(0), f.eps);
    ln.loadStateDict({ weight: fixtureTensor(f.weight), bias: fixtureTensor(f.bias) });
    expectClose(ln.forward(fixtureTensor(f.x)), f.y, TOL);
  });

  it('LayerNorm eps is honoured: on rows with spread ~1e-3, eps 1e-6, 1e-5 and 0 each match PyTorch and differ from the others', () => {
    const f = fixtures.layer_norm_small;
    const outputs = f.y as Record<string, FixtureTensor>;
    for (const [key, expected] of Object.entries(outputs)) {
      const ln = new LayerNorm(5, new Rng(0), Number(key));
      ln.loadStateDict({ weight: fixtureTensor(f.weight), bias: fixtureTensor(f.bias) });
      expectClose(ln.forward(fixtureTensor(f.x)), expected, TOL);
      // The fixture tells the eps values apart: every other eps's output is further than 100x the tolerance.
      for (const [other, alternative] of Object.entries(outputs)) {
        if (other === key) continue;
        const gap = Math.max(...expected.data.map((v, i) => Math.abs(v - alternative.data[i]!)));
        expect(gap, `eps ${key} vs ${other}`).toBeGreaterThan(100 * TOL);
      }
    }
  });

  it('BatchNorm2d uses batch statistics in train mode, updates running statistics as PyTorch, and uses them in eval', () => {
    const f = fixtures.batch_norm;
    const bn = new BatchNorm2d(3, new Rng(0));
    bn.loadStateDict(
      { weight: fixtureTensor(f.weight), bias: fixtureTensor(f.bias) },
      { strict: false },
    );
    expectClose(bn.forward(nchwToNhwc(fixtureTensor(f.x)), new ForwardContext(true)), nchwToNhwc(fixtureTensor(f.y_train)).dataSync(), TOL);
    expectClose(bn.runningMean, f.running_mean, 1e-5);
    expectClose(bn.runningVar, f.running_var, 1e-5);
    expect(bn.numBatchesTracked.dataSync()[0]).toBe(1);
    expectClose(bn.forward(nchwToNhwc(fixtureTensor(f.x_eval)), new ForwardContext(false)), nchwToNhwc(fixtureTensor(f.y_eval)).dataSync(), TOL);
  });
});

describe('activations', () => {
  it('gelu is the exact erf form, geluTanh the tanh approximation', () => {
    const f = fixtures.gelu;
    expectClose(gelu(fixtureTensor(f.x)), f.y, 1e-5);
    expectClose(geluTanh(fixtureTensor(f.x)), f.y_tanh, 1e-5);
    // The two differ by more than the tolerance somewhere, so the test tells them apart.
    const gap = Math.max(...f.y.data.map((v: number, i: number) => Math.abs(v - f.y_tanh.data[i])));
    expect(gap).toBeGreaterThan(1e-4);
  });
});

describe('dropout and drop path', () => {
  it('Dropout is the identity in eval and scales survivors by 1/(1-p) in train, with a fresh mask per call', () => {
    const d = new Dropout(0.25);
    const x = tf.ones([4000]);
    expectClose(d.forward(x, evalCtx()), new Array(4000).fill(1), 0);
    const ctx = new ForwardContext(true, new Rng(3));
    const a = Array.from(d.forward(x, ctx).dataSync());
    const b = Array.from(d.forward(x, ctx).dataSync());
    expect(new Set(a)).toEqual(new Set([0, Math.fround(1 / 0.75)]));
    const dropped = a.filter((v) => v === 0).length / a.length;
    expect(dropped).toBeGreaterThan(0.2);
    expect(dropped).toBeLessThan(0.3);
    expect(a).not.toEqual(b);
    const again = Array.from(d.forward(x, new ForwardContext(true, new Rng(3))).dataSync());
    expect(again).toEqual(a);
  });

  it('DropPath drops whole samples and keeps the expectation', () => {
    const dp = new DropPath(0.5);
    const x = tf.ones([512, 3, 4]);
    const y = dp.forward(x, new ForwardContext(true, new Rng(1)));
    const rows = tf.tidy(() => tf.reshape(y, [512, 12]).arraySync() as number[][]);
    for (const row of rows) expect(new Set(row).size).toBe(1);
    const kept = rows.filter((r) => r[0] === 2).length;
    expect(rows.every((r) => r[0] === 0 || r[0] === 2)).toBe(true);
    expect(kept).toBeGreaterThan(200);
    expect(kept).toBeLessThan(312);
    expectClose(dp.forward(x, evalCtx()), new Array(512 * 12).fill(1), 0);
  });

  it('dropPathSchedule is linear from 0 to the rate, as DeiT', () => {
    expect(dropPathSchedule(0.1, 5)).toEqual([0, 0.025, 0.05, 0.07500000000000001, 0.1]);
    expect(dropPathSchedule(0.3, 1)).toEqual([0]);
    expect(() => dropPathSchedule(1.5, 3)).toThrow(/dropPathRate = 1.5/);
  });
});

describe('attention', () => {
  it('multi-head self-attention matches PyTorch, rows of the attention map sum to 1', () => {
    const f = fixtures.attention;
    const x = fixtureTensor(f.x) as tf.Tensor3D;
    const attn = new Attention(8, new Rng(0), { numHeads: f.heads });
    loadTorchStateDict(attn, {
      'qkv.weight': fixtureTensor(f.qkv_weight),
      'qkv.bias': fixtureTensor(f.qkv_bias),
      'proj.weight': fixtureTensor(f.proj_weight),
      'proj.bias': fixtureTensor(f.proj_bias),
    });
    const ctx = new ForwardContext(false);
    ctx.captureAttention = true;
    const y = attn.forward(x, ctx, { grid: { height: 1, width: 4 }, numPrefixTokens: 1 });
    expectClose(y, f.y, TOL);
    const probs = ctx.attention!.probs;
    expectClose(probs, f.attn, 1e-5);
    const sums = tf.sum(probs, -1).dataSync();
    for (const s of sums) expect(Math.abs(s - 1)).toBeLessThan(1e-5);
  });

  it('a whole pre-norm transformer block matches PyTorch', () => {
    const f = fixtures.block;
    const spec = { layout: 'tokens', grid: { height: 1, width: 5 }, channels: 8, numPrefixTokens: 0 } as const;
    const block = new TransformerBlock(spec, { numHeads: f.heads, mlpRatio: f.mlp_ratio }, new Rng(0));
    const state = Object.fromEntries(Object.entries(f.state as Record<string, FixtureTensor>).map(([k, v]) => [k, fixtureTensor(v)]));
    loadTorchStateDict(block, state);
    const out = block.forward({ layout: 'tokens', tensor: fixtureTensor(f.x) as tf.Tensor3D, grid: spec.grid, numPrefixTokens: 0 }, evalCtx());
    expectClose(out.tensor, f.y, TOL);
  });

  it('the block’s two LayerNorms use its normEps: a small-spread residual stream tells 1e-6 from 1e-5 in norm1 and in norm2', () => {
    const f = fixtures.block_small;
    const spec = { layout: 'tokens', grid: { height: 1, width: 5 }, channels: 8, numPrefixTokens: 0 } as const;
    const block = new TransformerBlock(spec, { numHeads: f.heads, mlpRatio: f.mlp_ratio, normEps: 1e-6 }, new Rng(0));
    const state = Object.fromEntries(Object.entries(f.state as Record<string, FixtureTensor>).map(([k, v]) => [k, fixtureTensor(v)]));
    loadTorchStateDict(block, state);
    const out = block.forward({ layout: 'tokens', tensor: fixtureTensor(f.x) as tf.Tensor3D, grid: spec.grid, numPrefixTokens: 0 }, evalCtx());
    expectClose(out.tensor, f.y, TOL);
    for (const alternative of ['y_norm1_eps_1e-5', 'y_norm2_eps_1e-5']) {
      const gap = Math.max(...(f.y.data as number[]).map((v, i) => Math.abs(v - f[alternative].data[i])));
      expect(gap, alternative).toBeGreaterThan(100 * TOL);
    }
  });

  it('attention rows are distributions for any input (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0.1, max: 30, noNaN: true }), (b, n, heads, seed, scale) => {
        const dim = heads * 4;
        const attn = new Attention(dim, new Rng(seed), { numHeads: heads });
        const x = tf.mul(tf.randomNormal([b, n, dim], 0, 1, 'float32', seed), scale) as tf.Tensor3D;
        const ctx = new ForwardContext(false);
        ctx.captureAttention = true;
        const y = attn.forward(x, ctx, { grid: { height: 1, width: n }, numPrefixTokens: 0 });
        const probs = ctx.attention!.probs;
        expect(probs.shape).toEqual([b, heads, n, n]);
        const p = probs.dataSync();
        for (const v of p) expect(v).toBeGreaterThanOrEqual(0);
        const sums = tf.sum(probs, -1).dataSync();
        for (const s of sums) expect(Math.abs(s - 1)).toBeLessThan(1e-5);
        expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
        tf.dispose([x, y, probs]);
        attn.dispose();
      }),
      { seed: 42, numRuns: 40 },
    );
  });

  it('rejects a head count that does not divide the width', () => {
    expect(() => new Attention(10, new Rng(0), { numHeads: 3 })).toThrow(/numHeads = 3 .*divisor of the width 10/);
  });
});

describe('memory', () => {
  it('every layer frees its intermediates', () => {
    const rng = new Rng(0);
    const x4 = tf.randomNormal([2, 6, 6, 4]) as tf.Tensor4D;
    const x3 = tf.randomNormal([2, 5, 8]) as tf.Tensor3D;
    const conv = new Conv2d(4, 4, 3, rng, { groups: 4, padding: 1 });
    const bn = new BatchNorm2d(4, rng);
    const attn = new Attention(8, rng, { numHeads: 2 });
    const ctx = new ForwardContext(true, new Rng(1));
    for (let i = 0; i < 3; i++) {
      expectNoLeak(() => tf.dispose([conv.forward(x4), bn.forward(x4, ctx), bn.forward(x4, new ForwardContext(false)), attn.forward(x3, ctx), gelu(x3), new Dropout(0.1).forward(x3, ctx)]));
    }
  });
});
