import { beforeAll, describe, expect, it } from 'vitest';
import {
  ClassifierHead,
  ComposedModel,
  createModel,
  createModelFromSpec,
  ForwardContext,
  InvalidArgumentError,
  modelSpec,
  Rng,
  setBackend,
  tf,
  type ClassTokenBlock,
} from '../src/index.js';
import { expectNoLeak } from './helpers.js';

beforeAll(async () => {
  await setBackend('wasm');
});

describe('named models are specs', () => {
  it('a named model and a hand-written hybrid are the same class', () => {
    const named = createModel('deit_tiny_patch16_224', { imgSize: 32, numClasses: 4 });
    const hybrid = createModelFromSpec({
      imgSize: 32,
      numClasses: 4,
      stem: { block: 'patch_embed', options: { patchSize: 8, embedDim: 16 } },
      stages: [{ block: 'transformer', depth: 1, options: { numHeads: 2 } }],
      head: { block: 'classifier', options: { pool: 'avg' } },
    });
    expect(named).toBeInstanceOf(ComposedModel);
    expect(named.constructor).toBe(hybrid.constructor);
    named.dispose();
    hybrid.dispose();
  });

  it("modelSpec returns the full spec: timm's names as stage prefixes, every default filled in", () => {
    const spec = modelSpec('deit_small_patch16_224', { numClasses: 10, dropPathRate: 0.1 });
    expect(spec).toMatchObject({
      name: 'deit_small_patch16_224',
      imgSize: [224, 224],
      numClasses: 10,
      interpolation: 'bicubic',
      cropPct: 0.875,
      dropPathRate: 0.1,
      dropPathSchedule: 'linear',
      stem: { block: 'patch_embed', name: 'patch_embed', options: { patchSize: 16, embedDim: 384 } },
      head: { block: 'classifier', name: '', options: { pool: 'token', norm: 'layer' } },
    });
    expect(spec.stages.map((s) => [s.block, s.name, s.depth])).toEqual([
      ['class_token', '', undefined],
      ['transformer', 'blocks', 12],
    ]);
    expect(() => modelSpec('deit_small_patch16_224', { numClases: 10 })).toThrow(InvalidArgumentError);
    expect(() => modelSpec('deit_small_patch16_224', { numClases: 10 })).toThrow(/numClases/);
  });

  it("DeiT's state dict has timm's keys, in timm's order", () => {
    const model = createModel('deit_tiny_patch16_224', { imgSize: 32, numClasses: 4 });
    const keys = Object.keys(model.stateDict());
    expect(keys.slice(0, 4)).toEqual(['cls_token', 'pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias']);
    expect(keys[4]).toBe('blocks.0.norm1.weight');
    expect(keys.slice(-4)).toEqual(['norm.weight', 'norm.bias', 'head.weight', 'head.bias']);
    expect(keys.length).toBe(4 + 12 * 12 + 4);
    model.dispose();
  });
});

describe('class_token', () => {
  it('with a distillation token: cls_token, dist_token, pos_embed over both prefixes, and clsAttention still reads the class row', () => {
    const model = createModelFromSpec({
      imgSize: 16,
      numClasses: 3,
      stem: { block: 'patch_embed', name: 'patch_embed', options: { patchSize: 4, embedDim: 8 } },
      stages: [{ block: 'class_token', name: '', options: { distToken: true } }, { block: 'transformer', name: 'blocks', depth: 1, options: { numHeads: 2 } }],
      head: { block: 'classifier', name: '', options: { pool: 'avg' } },
    });
    const state = model.stateDict();
    expect(Object.keys(state).slice(0, 3)).toEqual(['cls_token', 'dist_token', 'pos_embed']);
    expect(state.pos_embed!.shape).toEqual([1, 2 + 16, 8]);
    expect(model.stages()[2]!.description).toBe('tokens 4x4 grid + 2 prefix, 8 channels');
    const x = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const out = model.forward(x, { outputs: ['clsAttention'] });
    expect(out.clsAttention!.probs.shape).toEqual([2, 2, 16]);
    tf.dispose([out.logits, out.clsAttention!.probs, x]);
    model.dispose();
  });

  it("with 'sinusoid': the fixed table is a frozen parameter, counted and saved but not trained", () => {
    const model = createModelFromSpec({
      imgSize: 8,
      numClasses: 2,
      stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 6 } },
      stages: [{ block: 'class_token', name: '', options: { posEmbed: 'sinusoid' } }],
      head: { block: 'classifier', name: '' },
    });
    const block = model.stage('stages[0]') as ClassTokenBlock;
    expect(model.trainableVariables()).not.toContain(block.posEmbed);
    // PE[pos, j] = sin(pos / 10000^(2⌊j/2⌋/d)) (even j), cos (odd j); position 1 is the first patch.
    const row1 = Array.from(block.posEmbed!.dataSync().slice(6, 12));
    const expected = [0, 1, 2, 3, 4, 5].map((j) => (j % 2 ? Math.cos : Math.sin)(1 / 10000 ** ((2 * Math.floor(j / 2)) / 6)));
    row1.forEach((v, j) => expect(v).toBeCloseTo(expected[j]!, 6));
    model.dispose();
  });
});

describe('classifier', () => {
  it("norm 'batch' normalises the tokens' channels with batch statistics in training (float64 reference) and pools the patches", () => {
    const [b, n, c, classes] = [2, 3, 4, 2];
    const head = new ClassifierHead(
      { layout: 'tokens', grid: { height: 1, width: 3 }, channels: c, numPrefixTokens: 0 },
      { layout: 'vector', channels: classes },
      { numClasses: classes, pool: 'avg', norm: 'batch', normEps: 1e-5 },
      new Rng(0),
    );
    const values = Array.from({ length: b * n * c }, (_, i) => Math.sin(i * 1.7) * 3 + (i % 4));
    const x = tf.tensor3d(values, [b, n, c]);
    const pooled = head.features({ layout: 'tokens', tensor: x, grid: { height: 1, width: 3 }, numPrefixTokens: 0 }, new ForwardContext(true));
    // Reference: per channel, mean and biased variance over the B·N tokens; γ = 1, β = 0; then the mean over tokens.
    const expected: number[] = [];
    for (let bi = 0; bi < b; bi++) {
      for (let ch = 0; ch < c; ch++) {
        const all = Array.from({ length: b * n }, (_, t) => values[t * c + ch]!);
        const mean = all.reduce((s, v) => s + v, 0) / all.length;
        const variance = all.reduce((s, v) => s + (v - mean) ** 2, 0) / all.length;
        let sum = 0;
        for (let t = 0; t < n; t++) sum += (values[(bi * n + t) * c + ch]! - mean) / Math.sqrt(variance + 1e-5);
        expected.push(sum / n);
      }
    }
    Array.from(pooled.dataSync()).forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThan(1e-5));
    expect(Object.keys(head.stateDict())).toEqual(['norm.weight', 'norm.bias', 'head.weight', 'head.bias', 'norm.running_mean', 'norm.running_var', 'norm.num_batches_tracked']);
    expectNoLeak(() => {
      const out = head.forward({ layout: 'tokens', tensor: x, grid: { height: 1, width: 3 }, numPrefixTokens: 0 }, new ForwardContext(true));
      out.tensor.dispose();
    });
    tf.dispose([x, pooled]);
    head.dispose();
  });

  it("initScale multiplies the initial weights, drawn from the same stream (FAN's and ConvNeXt's head_init_scale), the bias stays 0", () => {
    const spec = { layout: 'tokens', grid: { height: 2, width: 2 }, channels: 8, numPrefixTokens: 1 } as const;
    const make = (initScale?: number) =>
      new ClassifierHead(spec, { layout: 'vector', channels: 5 }, { numClasses: 5, ...(initScale === undefined ? {} : { initScale }) }, new Rng(4));
    const [plain, scaled] = [make(), make(1e-3)];
    const w = plain.head.weight.dataSync();
    const ws = scaled.head.weight.dataSync();
    expect(Math.max(...Array.from(w, Math.abs))).toBeGreaterThan(1e-3);
    Array.from(ws).forEach((v, i) => expect(Math.abs(v - w[i]! * 1e-3)).toBeLessThanOrEqual(1e-9));
    expect(Array.from(scaled.head.bias!.dataSync())).toEqual([0, 0, 0, 0, 0]);
    expect(() => make(0)).toThrow(/initScale/);
    plain.dispose();
    scaled.dispose();
  });
});
