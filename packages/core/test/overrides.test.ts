import { beforeAll, describe, expect, it } from 'vitest';
import {
  Block,
  CompositionError,
  createModelFromSpec,
  InvalidArgumentError,
  setBackend,
  tf,
  use,
  z,
  type BlockDefinition,
  type FeatureSpec,
  type Features,
  type ForwardContext,
  type TesseraPlugin,
} from '../src/index.js';
import { expectNoLeak } from './helpers.js';

/** A test block: multiplies tokens by `factor`, which a call may override. */
const scaleOptions = z.strictObject({ factor: z.number() });
class ScaleBlock extends Block {
  constructor(
    spec: FeatureSpec,
    readonly factor: number,
  ) {
    super(spec, spec);
  }
  forward(x: Features, ctx: ForwardContext): Features {
    const factor = (ctx.overrides?.factor as number | undefined) ?? this.factor;
    if (x.layout !== 'tokens') throw new CompositionError('scale takes tokens');
    return { ...x, tensor: tf.mul(x.tensor, factor) as tf.Tensor3D };
  }
}
const scaleBlock: BlockDefinition<z.infer<typeof scaleOptions>> = {
  description: 'multiplies tokens by factor (overridable per call)',
  supports: { positions: ['stage'], dropPath: false, attention: false, dynamicGrid: true, overridable: ['factor'] },
  accepts: ['tokens'],
  options: scaleOptions,
  examples: [{ factor: 2 }],
  outputSpec: (input) => input,
  create: (input, options) => new ScaleBlock(input, options.factor),
};
const plugin: TesseraPlugin = { name: 'overrides-test', version: '0.0.0', coreRange: '>=0.0.0', blocks: { scale: scaleBlock } };

const SPEC = {
  imgSize: 8,
  numClasses: 3,
  stem: { block: 'patch_embed', name: 'patch_embed', options: { patchSize: 4, embedDim: 4 } },
  stages: [{ block: 'scale', name: 'scale', options: { factor: 1 } }],
  head: { block: 'classifier', name: 'head', options: { numClasses: 3, pool: 'avg' } },
};

beforeAll(async () => {
  await setBackend('cpu');
  use(plugin);
});

describe('per-call overrides', () => {
  it('change an overridable option for one call only, without leaking', () => {
    const model = createModelFromSpec(SPEC);
    const images = tf.randomNormal([2, 8, 8, 3]) as tf.Tensor4D;
    const plain = model.forward(images, { training: false }).logits;
    const scaled = model.forward(images, { training: false, overrides: { scale: { factor: 0 } } }).logits;
    const again = model.forward(images, { training: false }).logits;
    // factor 0 zeroes the tokens: the logits are the head's bias alone, the same for both images.
    const s = scaled.arraySync();
    expect(s[0]).toEqual(s[1]);
    expect(again.arraySync()).toEqual(plain.arraySync());
    expect(plain.arraySync()[0]).not.toEqual(s[0]);
    tf.dispose([plain, scaled, again]);
    expectNoLeak(() => model.forward(images, { overrides: { scale: { factor: 3 } } }).logits.dispose());
    images.dispose();
    model.dispose();
  });

  it('refuses an unknown stage or an option the block does not declare, before computing', () => {
    const model = createModelFromSpec(SPEC);
    const images = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    expect(() => model.forward(images, { overrides: { nope: { factor: 2 } } })).toThrow(InvalidArgumentError);
    expect(() => model.forward(images, { overrides: { nope: { factor: 2 } } })).toThrow(/overrides = "nope".*'patch_embed', 'scale', 'head'/);
    expect(() => model.forward(images, { overrides: { patch_embed: { patchSize: 2 } } })).toThrow(/overrides\['patch_embed'\]\.patchSize = 2.*nothing: patch_embed lets a call change no option/);
    expect(() => model.forward(images, { overrides: { scale: { bias: 1 } } })).toThrow(/overrides\['scale'\]\.bias.*one of the options scale lets a call change: factor/);
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
    model.dispose();
  });
});
