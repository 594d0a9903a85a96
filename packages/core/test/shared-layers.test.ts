import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BatchNorm2d,
  ClassAttention,
  classTokenAttention,
  constant,
  Conv2d,
  ForwardContext,
  gelu,
  LayerScale,
  layerScale,
  Linear,
  loadTorchStateDict,
  Rng,
  Sequential,
  setBackend,
  StateDictError,
  tf,
  torchStateDict,
} from '../src/index.js';
import { expectRelClose, uniformValues } from './gradient-check.js';
import { expectClose, expectNoLeak, fixtureTensor, nchwToNhwc } from './helpers.js';

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/shared-layers.json', import.meta.url), 'utf8'));
const state = (s: Record<string, { shape: number[]; data: number[] }>) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, fixtureTensor(v)]));
// Float32 against float64 PyTorch (fixtures/make_shared_layer_fixtures.py): O(1) values, a few layers deep.
const TOL = 1e-5;

beforeAll(async () => {
  await setBackend('wasm');
});

describe('constant initialiser', () => {
  it('fills every value and refuses a non-finite value by name', () => {
    const t = constant(1e-6)([2, 3], new Rng(0));
    expect(Array.from(t.dataSync())).toEqual(new Array(6).fill(Math.fround(1e-6)));
    t.dispose();
    expect(() => constant(Number.NaN)).toThrow(/value = NaN is not accepted/);
  });
});

describe('LayerScale', () => {
  it('matches the float64 reference, with gamma initialised to its init value and named as timm', () => {
    const f = fixtures.layer_scale;
    const ls = new LayerScale(5, new Rng(0), 1e-6);
    expect(Object.keys(ls.stateDict())).toEqual(['gamma']);
    expect(Array.from(ls.gamma.dataSync())).toEqual(new Array(5).fill(Math.fround(1e-6)));
    ls.loadStateDict({ gamma: fixtureTensor(f.gamma) });
    expectNoLeak(() => {
      const x = fixtureTensor(f.x);
      const y = ls.forward(x);
      expectClose(y, f.y, TOL);
      tf.dispose([x, y]);
    });
    ls.dispose();
  });

  it('has the value and gradients of autodiff through a broadcasting tf.mul, leaking nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ lead: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), channels: fc.integer({ min: 1, max: 24 }), seed: fc.nat() }),
        async ({ lead, channels, seed }) => {
          const rng = new Rng(seed);
          const shape = [...lead, channels];
          const x = uniformValues(shape, rng);
          const g = uniformValues([channels], rng);
          const r = uniformValues(shape, rng);
          const compute = (f: (x: tf.Tensor, g: tf.Tensor1D) => tf.Tensor) =>
            tf.tidy(() => {
              const xt = tf.tensor(x, shape);
              const gt = tf.tensor1d(g);
              const rt = tf.tensor(r, shape);
              const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b as tf.Tensor1D), rt)))([xt, gt]);
              return [f(xt, gt), ...grads].map((t) => t.dataSync() as Float32Array);
            });
          await setBackend('cpu');
          const reference = compute((a, b) => tf.mul(a, b));
          await setBackend('wasm');
          const before = tf.memory().numTensors;
          const got = compute(layerScale);
          expect(tf.memory().numTensors).toBe(before);
          ['y', 'dx', 'dgamma'].forEach((name, i) => expectRelClose(got[i]!, reference[i]!, `${name} ${JSON.stringify({ lead, channels })}`, 1e-5));
        },
      ),
      { seed: 42, numRuns: 25 },
    );
  });

  it('refuses a gamma that does not match the last axis, naming it', () => {
    const x = tf.zeros([2, 3]);
    const g = tf.ones([4]) as tf.Tensor1D;
    expect(() => layerScale(x, g)).toThrow(/gamma = "tensor of shape \[4\]" is not accepted: expected a vector of the input's last axis, 3/);
    tf.dispose([x, g]);
  });
});

describe('Sequential', () => {
  it("keeps PyTorch's indices across parameterless steps, so nested conv/BN names load", () => {
    const rng = new Rng(0);
    const convBn = (cin: number, cout: number) => new Sequential([new Conv2d(cin, cout, 3, rng, { stride: 2, padding: 1, bias: false }), new BatchNorm2d(cout, rng)]);
    const proj = new Sequential([convBn(3, 4), gelu, convBn(4, 8)]);
    expect(proj.length).toBe(3);
    expect(proj.at(1)).toBe(gelu);
    expect(Object.keys(proj.stateDict())).toEqual([
      '0.0.weight',
      '0.1.weight',
      '0.1.bias',
      '2.0.weight',
      '2.1.weight',
      '2.1.bias',
      '0.1.running_mean',
      '0.1.running_var',
      '0.1.num_batches_tracked',
      '2.1.running_mean',
      '2.1.running_var',
      '2.1.num_batches_tracked',
    ]);
    proj.eval();
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const ctx = new ForwardContext(false);
    const first = proj.at(0) as Sequential;
    const last = proj.at(2) as Sequential;
    expectNoLeak(() => {
      const y = tf.tidy(() => proj.forward(x, ctx));
      const manual = tf.tidy(() => last.forward(gelu(first.forward(x, ctx)), ctx));
      expect(y.shape).toEqual([2, 2, 2, 8]);
      expectClose(y, manual.dataSync(), 0);
      tf.dispose([y, manual]);
    });
    expect(() => proj.at(3)).toThrow(/index = 3 is not accepted: expected an integer in \[0, 2\]/);
    x.dispose();
    proj.dispose();
  });
});

describe('1x1 convolution held as a linear layer', () => {
  it('loads PyTorch [out, in, 1, 1], equals F.conv2d on NHWC features, and saves back the same layout', () => {
    const f = fixtures.conv1x1;
    const layer = new Linear(4, 6, new Rng(0), { torchLayout: 'conv1x1' });
    const weight = fixtureTensor(f.weight);
    const bias = fixtureTensor(f.bias);
    loadTorchStateDict(layer, { weight, bias });
    const x = nchwToNhwc(fixtureTensor(f.x));
    const y = layer.forward(x);
    const reference = nchwToNhwc(fixtureTensor(f.y));
    expectClose(y, reference.dataSync(), TOL);
    const saved = torchStateDict(layer);
    expect(saved.weight!.shape).toEqual([6, 4, 1, 1]);
    expectClose(saved.weight!, f.weight, 1e-6);
    tf.dispose([weight, bias, x, y, reference, ...Object.values(saved)]);
    const wrong = tf.zeros([6, 4, 3, 3]);
    expect(() => loadTorchStateDict(layer, { weight: wrong, bias: tf.zeros([6]) })).toThrow(StateDictError);
    expect(() => loadTorchStateDict(layer, { weight: wrong, bias: tf.zeros([6]) })).toThrow(/should be a 1x1 kernel/);
    wrong.dispose();
    layer.dispose();
  });
});

describe('ClassAttention (CaiT Eq. 2, timm ClassAttn)', () => {
  it('matches the float64 reference and records [B, heads, 1, N] that classTokenAttention accepts', () => {
    const f = fixtures.class_attention;
    const attn = new ClassAttention(f.dim, new Rng(0), { numHeads: f.numHeads, qkvBias: true });
    expect(Object.keys(attn.stateDict())).toEqual(['q.weight', 'q.bias', 'k.weight', 'k.bias', 'v.weight', 'v.bias', 'proj.weight', 'proj.bias']);
    const s = state(f.state);
    loadTorchStateDict(attn, s);
    const x = fixtureTensor(f.x) as tf.Tensor3D;
    const ctx = new ForwardContext(false);
    const before = tf.memory().numTensors;
    const y = attn.forward(x, ctx, { grid: { height: 2, width: 2 }, numPrefixTokens: 1 });
    expectClose(y, f.y, TOL);
    const record = ctx.attention!;
    expect(record.probs.shape).toEqual([2, f.numHeads, 1, 5]);
    expectClose(record.probs, f.attn, TOL);
    const cls = classTokenAttention(record.probs, record.grid, 1);
    expect(cls.probs.shape).toEqual([2, f.numHeads, 4]);
    const attnData = f.attn.data as number[];
    const expected: number[] = [];
    for (let row = 0; row < 2 * f.numHeads; row++) expected.push(...attnData.slice(row * 5 + 1, row * 5 + 5));
    expectClose(cls.probs, expected, TOL);
    tf.dispose([y, record.probs, cls.probs]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, ...Object.values(s)]);
    attn.dispose();
  });

  it('refuses a width the heads do not divide, naming numHeads', () => {
    expect(() => new ClassAttention(10, new Rng(0), { numHeads: 4 })).toThrow(/numHeads = 4 is not accepted: expected a divisor of the width 10/);
  });
});
