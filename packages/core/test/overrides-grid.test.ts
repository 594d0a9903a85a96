import { beforeAll, describe, expect, it } from 'vitest';
import {
  Block,
  createModel,
  createModelFromSpec,
  InvalidArgumentError,
  linear,
  Registry,
  corePlugin,
  composeModel,
  resamplePosEmbed,
  resizeMatrix,
  Rng,
  setBackend,
  tf,
  truncNormal,
  z,
  type BlockDefinition,
  type FeatureSpec,
  type Features,
  type ForwardContext,
  type ImageSpec,
  type TokenSpec,
} from '../src/index.js';

/**
 * A test stem whose patch size a call may change (as FlexiViT draws one per step):
 * it keeps a kernel for `patchSize` and, for another size, bilinearly resizes the
 * kernel (a constant linear map, so gradients reach the stored kernel).
 */
const flexOptions = z.strictObject({ patchSize: z.number().int().min(1), embedDim: z.number().int().min(1) });
type FlexOptions = z.infer<typeof flexOptions>;

class FlexPatchEmbed extends Block {
  readonly weight: tf.Variable;
  constructor(
    input: ImageSpec,
    output: TokenSpec,
    private readonly options: FlexOptions,
    rng: Rng,
  ) {
    super(input, output);
    const p = options.patchSize;
    this.weight = this.addParameter('weight', truncNormal(0.02)([p, p, input.channels, options.embedDim], rng));
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'image') throw new Error('images expected');
    const p = (ctx.overrides?.patchSize as number | undefined) ?? this.options.patchSize;
    const base = this.options.patchSize;
    const [b, height, width, c] = x.tensor.shape;
    const grid = { height: Math.floor(height / p), width: Math.floor(width / p) };
    const d = this.options.embedDim;
    const tensor = tf.tidy(() => {
      let kernel: tf.Tensor = this.weight;
      if (p !== base) {
        const r = tf.tensor2d(Float32Array.from(resizeMatrix(base, p, 'bilinear')), [p, base]);
        // k'[i, j] = Σ r[i, a] r[j, b] k[a, b]: rows, then columns.
        const rows = tf.reshape(tf.matMul(r, tf.reshape(kernel, [base, base * c * d])), [p, base, c * d]);
        kernel = tf.reshape(tf.matMul(tf.tile(tf.reshape(r, [1, p, base]), [p, 1, 1]), rows), [p, p, c, d]);
      }
      const cropped = tf.slice(x.tensor, [0, 0, 0, 0], [b, grid.height * p, grid.width * p, c]);
      const patches = tf.reshape(tf.transpose(tf.reshape(cropped, [b, grid.height, p, grid.width, p, c]), [0, 1, 3, 2, 4, 5]), [b * grid.height * grid.width, p * p * c]);
      return tf.reshape(linear(patches, tf.reshape(kernel, [p * p * c, d]) as tf.Tensor2D, null), [b, grid.height * grid.width, d]) as tf.Tensor3D;
    });
    return { layout: 'tokens', tensor, grid, numPrefixTokens: 0 };
  }
}

const flexPatchEmbed: BlockDefinition<FlexOptions> = {
  description: 'test: patch embedding whose patch size a call may override',
  supports: { positions: ['stem'], dropPath: false, attention: false, dynamicGrid: true, overridable: ['patchSize'] },
  accepts: ['image'],
  options: flexOptions,
  examples: [{ patchSize: 4, embedDim: 8 }],
  outputSpec(input: FeatureSpec, o): TokenSpec {
    if (input.layout !== 'image') throw new Error('takes images');
    const grid = { height: Math.floor(input.height / o.patchSize), width: Math.floor(input.width / o.patchSize) };
    if (grid.height < 1 || grid.width < 1) throw new Error(`patchSize ${o.patchSize} is larger than the ${input.height}x${input.width} input`);
    return { layout: 'tokens', grid, channels: o.embedDim, numPrefixTokens: 0 };
  },
  create: (input, o, rng) => new FlexPatchEmbed(input as ImageSpec, flexPatchEmbed.outputSpec(input, o) as TokenSpec, o, rng),
};

/** The same stem, declaring a fixed grid. */
const fixedPatchEmbed: BlockDefinition<FlexOptions> = { ...flexPatchEmbed, supports: { ...flexPatchEmbed.supports, dynamicGrid: false, overridable: [] } };

const registry = new Registry().use(corePlugin).use({ name: 'test-flex', version: '1.0.0', coreRange: '*', blocks: { flex_patch_embed: flexPatchEmbed, fixed_patch_embed: fixedPatchEmbed } });

const flexSpec = (stem = 'flex_patch_embed') => ({
  imgSize: 16,
  numClasses: 3,
  stem: { block: stem, name: 'patch_embed', options: { patchSize: 4, embedDim: 8 } },
  stages: [{ block: 'class_token', name: '' }, { block: 'transformer', name: 'blocks', depth: 1, options: { numHeads: 2 } }],
  head: { block: 'classifier', name: '' },
});

beforeAll(async () => {
  await setBackend('wasm');
});

describe('per-call overrides', () => {
  it('a block changes its patch size on every call, and the model trains without leaking tensors', () => {
    const model = composeModel(flexSpec(), registry);
    const images = tf.randomNormal([4, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3) as tf.Tensor2D;
    const optimizer = tf.train.adam(1e-2);
    const rng = new Rng(7);
    const sizes = [2, 4, 8];
    const counts: number[] = [];
    const seen = new Set<number>();
    for (let step = 0; step < 9; step++) {
      const patchSize = sizes[Math.floor(rng.uniform() * sizes.length)]!;
      seen.add(patchSize);
      const { value, grads } = tf.variableGrads(() => {
        const { logits } = model.forward(images, { training: true, overrides: { patch_embed: { patchSize } } });
        return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
      }, model.trainableVariables());
      expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
      // Every parameter gets a gradient, the stored kernel and position embedding included, whatever the patch size.
      expect(Object.keys(grads).length).toBe(model.trainableVariables().length);
      optimizer.applyGradients(grads as unknown as Parameters<typeof optimizer.applyGradients>[0]);
      tf.dispose([value, ...Object.values(grads)]);
      counts.push(tf.memory().numTensors);
    }
    expect(seen.size).toBeGreaterThan(1);
    expect(new Set(counts.slice(1)).size).toBe(1);
    // The grid follows the patch size, and the attention record with it.
    const out = model.forward(images, { outputs: ['clsAttention'], overrides: { patch_embed: { patchSize: 8 } } });
    expect(out.clsAttention!.grid).toEqual({ height: 2, width: 2 });
    tf.dispose([out.logits, out.clsAttention!.probs, images, labels]);
    optimizer.dispose();
    model.dispose();
  });

  it('refuses an unknown stage, a non-overridable option and a bad value before any compute', () => {
    const model = composeModel(flexSpec(), registry);
    const images = tf.zeros([1, 16, 16, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const cases: Array<[Record<string, Record<string, unknown>>, RegExp]> = [
      [{ patch_embedd: { patchSize: 2 } }, /overrides = "patch_embedd" is not accepted: expected a stage name of composed: 'patch_embed', '', 'blocks'/],
      [{ blocks: { numHeads: 4 } }, /overrides\['blocks'\]\.numHeads = 4 is not accepted: expected nothing: transformer lets a call change no option/],
      [{ patch_embed: { embedDim: 4 } }, /overrides\['patch_embed'\]\.embedDim = 4 is not accepted: expected one of the options flex_patch_embed lets a call change: patchSize/],
      [{ patch_embed: { patchSize: 0 } }, /overrides\['patch_embed'\]\.patchSize = 0 is not accepted/],
      [{ patch_embed: { patchSize: 32 } }, /overrides\['patch_embed'\] = \{"patchSize":32\} is not accepted: .*patchSize 32 is larger than the 16x16 input/],
      [{ stem: { patchSize: 'big' } }, /overrides\['stem'\]\.patchSize = "big" is not accepted/],
    ];
    for (const [overrides, message] of cases) {
      expect(() => model.forward(images, { overrides })).toThrow(InvalidArgumentError);
      expect(() => model.forward(images, { overrides })).toThrow(message);
    }
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
    model.dispose();
  });
});

describe('other input sizes', () => {
  it('a model whose blocks all read their grid runs at another size, resampling its learned pos_embed as timm does', () => {
    const model = createModel('deit_tiny_patch16_224', { imgSize: 32, patchSize: 8, numClasses: 4, seed: 2 });
    const x = tf.randomNormal([2, 48, 40, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const logits = model.predict(x);
    expect(logits.shape).toEqual([2, 4]);
    expect(tf.memory().numTensors).toBe(before + 1);
    // The same weights in a model built for 48x40, with the stored 4x4 pos_embed resampled to 6x5 by hand.
    const big = createModel('deit_tiny_patch16_224', { imgSize: [48, 40], patchSize: 8, numClasses: 4 });
    const state = { ...model.stateDict() };
    state.pos_embed = resamplePosEmbed(model.stateDict().pos_embed!, { height: 6, width: 5 }, { from: { height: 4, width: 4 } });
    big.loadStateDict(state);
    const expected = big.predict(x);
    Array.from(logits.dataSync()).forEach((v, i) => expect(Math.abs(v - expected.dataSync()[i]!)).toBeLessThan(1e-5));
    tf.dispose([x, logits, expected, state.pos_embed]);
    model.dispose();
    big.dispose();
  });

  it('a model with a block that keeps a fixed grid refuses other sizes, naming the block', () => {
    const model = composeModel(flexSpec('fixed_patch_embed'), registry);
    expect(model.dynamicGrid).toBe(false);
    expect(() => model.predict(tf.zeros([1, 20, 20, 3]))).toThrow(/other sizes need every block to declare dynamicGrid, and patch_embed \(fixed_patch_embed\) do not/);
    expect(() => model.forward(tf.zeros([1, 16, 16, 3]), { overrides: { patch_embed: { patchSize: 2 } } })).toThrow(/lets a call change no option/);
    model.dispose();
    const dynamic = createModelFromSpec({ ...flexSpec('patch_embed') });
    expect(() => dynamic.predict(tf.zeros([1, 2, 2, 3]))).toThrow(/images = .* is not accepted: .*patchSize 4 is larger than the 2x2 input/);
    dynamic.dispose();
  });
});
