import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConvNormAct, ConvPatchEmbed, ForwardContext, InvalidArgumentError, loadTorchStateDict, Rng, setBackend, tf } from '../src/index.js';
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
