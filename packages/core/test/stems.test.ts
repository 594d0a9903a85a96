import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConvNormAct, ConvPatchEmbed, createModelFromSpec, ForwardContext, InvalidArgumentError, loadTorchStateDict, Rng, setBackend, tf } from '../src/index.js';
import { expectClose, expectNoLeak, fixtureTensor, nchwToNhwc } from './helpers.js';

/*
 * Conv–norm–activation stems and the grid-keeping patch embedding against
 * float64 PyTorch (fixtures/make_stem_fixtures.py). Tolerance 1e-5 absolute:
 * values are O(1) and pass through two float32 convolutions at most.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const fixtures: any = JSON.parse(readFileSync(new URL('./fixtures/stems.json', import.meta.url), 'utf8'));
const TOL = 1e-5;

function torchState(state: Record<string, { shape: number[]; data: number[] }>): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(state).map(([k, v]) => [k, fixtureTensor(v)]));
}

beforeAll(async () => {
  await setBackend('wasm');
});

describe('ConvNormAct', () => {
  it('matches nn.Sequential(conv, BN, GELU, conv, BN) in eval and train mode, with PyTorch indices', () => {
    const f = fixtures.gelu_stem;
    const stem = new ConvNormAct(3, new Rng(0), { channels: f.channels, activation: 'gelu' });
    expect(Object.keys(stem.stateDict()).sort()).toEqual(Object.keys(f.state).sort());
    loadTorchStateDict(stem, torchState(f.state));
    const x = nchwToNhwc(fixtureTensor(f.x));
    expect(stem.outputSize(11, 10)).toEqual([3, 3]);
    expectClose(stem.forward(x, new ForwardContext(false)), nchwToNhwc(fixtureTensor(f.y_eval)).dataSync(), TOL);
    expectClose(stem.forward(x, new ForwardContext(true)), nchwToNhwc(fixtureTensor(f.y_train)).dataSync(), TOL);
    expectClose(stem.stateDict()['proj.4.running_mean']!, f.running_mean_after['proj.4.running_mean'], TOL);
  });

  it('matches a stride-1 conv, BN, ReLU stem with the activation after the last conv', () => {
    const f = fixtures.relu_stem;
    const stem = new ConvNormAct(2, new Rng(0), { channels: f.channels, activation: 'relu', finalActivation: true, stride: 1 });
    loadTorchStateDict(stem, torchState(f.state));
    expectClose(stem.forward(nchwToNhwc(fixtureTensor(f.x)), new ForwardContext(false)), nchwToNhwc(fixtureTensor(f.y_eval)).dataSync(), TOL);
  });

  it('refuses bad options, naming them', () => {
    expect(() => new ConvNormAct(3, new Rng(0), { channels: [] })).toThrow(InvalidArgumentError);
    expect(() => new ConvNormAct(3, new Rng(0), { channels: [4, 0] })).toThrow(/channels\[1\]/);
    expect(() => new ConvNormAct(3, new Rng(0), { channels: [4], activation: 'swish' as never })).toThrow(/activation.*'gelu', 'relu' or 'none'/);
  });

  it('frees its intermediates in both modes, inside and outside tf.tidy, and trains', () => {
    const stem = new ConvNormAct(3, new Rng(0), { channels: [4, 8] });
    const x = tf.randomNormal([2, 9, 9, 3]) as tf.Tensor4D;
    for (const training of [true, false]) expectNoLeak(() => stem.forward(x, new ForwardContext(training)).dispose());
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(stem.forward(x, new ForwardContext(true)))) as tf.Scalar, stem.trainableVariables());
    expect(Object.keys(grads)).toHaveLength(stem.trainableVariables().length);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe('ConvPatchEmbed', () => {
  it('is a p×p stride-p conv then LayerNorm over channels, keeping the grid (partial patches dropped)', () => {
    const f = fixtures.patch_embed_norm;
    const embed = new ConvPatchEmbed(f.patchSize, f.in, f.out, new Rng(0));
    loadTorchStateDict(embed, torchState(f.state));
    const y = embed.embedGrid(nchwToNhwc(fixtureTensor(f.x)));
    expect(y.shape).toEqual([2, 3, 3, 7]);
    expectClose(y, nchwToNhwc(fixtureTensor(f.y)).dataSync(), TOL);
  });

  it("without a norm is the plain strided conv", () => {
    const f = fixtures.patch_embed_norm;
    const embed = new ConvPatchEmbed(f.patchSize, f.in, f.out, new Rng(0), { norm: 'none' });
    const { 'proj.weight': w, 'proj.bias': b } = torchState(f.state);
    loadTorchStateDict(embed, { 'proj.weight': w!, 'proj.bias': b! });
    expectClose(embed.embedGrid(nchwToNhwc(fixtureTensor(f.x))), nchwToNhwc(fixtureTensor(f.y_no_norm)).dataSync(), TOL);
  });

  it('refuses a grid smaller than one patch and a wrong channel count', () => {
    const embed = new ConvPatchEmbed(4, 3, 8, new Rng(0));
    expect(() => embed.embedGrid(tf.zeros([1, 3, 8, 3]) as tf.Tensor4D)).toThrow(/3x8 grid is smaller than one 4x4 patch/);
    expect(() => embed.embedGrid(tf.zeros([1, 8, 8, 2]) as tf.Tensor4D)).toThrow(/3 channels/);
    expect(() => new ConvPatchEmbed(4, 3, 8, new Rng(0), { norm: 'batch' as never })).toThrow(/'layer' or 'none'/);
  });
});

describe('conv_stem and conv_patch_embed blocks', () => {
  const spec = (imgSize: number) => ({
    imgSize,
    numClasses: 3,
    stem: { block: 'conv_stem', name: 'patch_embed1', options: { channels: [4, 8] } },
    stages: [
      { block: 'conv_patch_embed', name: 'patch_embed2', options: { patchSize: 2, embedDim: 12 } },
      { block: 'conv_stem', name: 'patch_embed3', options: { channels: [16], activation: 'none' } },
    ],
    head: { block: 'classifier', name: '', options: { pool: 'avg', norm: 'none' } },
  });

  it('put their parameters under the stage names with the PyTorch indices, and plan the shapes they compute', () => {
    const model = createModelFromSpec(spec(37));
    const keys = Object.keys(model.stateDict());
    for (const key of ['patch_embed1.proj.0.weight', 'patch_embed1.proj.1.running_var', 'patch_embed1.proj.3.bias', 'patch_embed1.proj.4.weight', 'patch_embed2.proj.weight', 'patch_embed2.norm.bias', 'patch_embed3.proj.0.weight', 'patch_embed3.proj.1.num_batches_tracked']) {
      expect(keys).toContain(key);
    }
    // 37 → 19 → 10 (two 3×3 stride-2 convs, padding 1) → 5 (2×2 patches) → 3 (3×3 stride 2)
    expect(model.stages().map((s) => s.shape.slice(1).join('x'))).toEqual(['37x37x3', '10x10x8', '5x5x12', '3x3x16', '3']);
    const logits = model.predict(tf.zeros([2, 37, 37, 3]) as tf.Tensor4D);
    expect(logits.shape).toEqual([2, 3]);
    logits.dispose();
    model.dispose();
  });

  it('refuse an input the stem convolutions or the patches cannot cover, before any tensor exists', () => {
    const before = tf.memory().numTensors;
    expect(() => createModelFromSpec({ ...spec(3), stem: { block: 'conv_stem', options: { channels: [4], kernelSize: 5, padding: 0 } } })).toThrow(/convolution 1 of 1 leaves no pixels of the 3x3 input/);
    expect(() => createModelFromSpec(spec(4))).toThrow(/patchSize 2 is larger than the 1x1 grid/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
