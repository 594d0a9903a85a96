import { beforeAll, describe, expect, it } from 'vitest';
import { createModelFromSpec, ForwardContext, loadTorchStateDict, Rng, setBackend, tf, use } from '@tessera/core';
import { loadT2TStateDict, resizePosEmbed, t2tPlugin, t2tVitSpec, T2TModule, TokenPerformer, TokenTransformer } from '../src/index.js';
import { expectClose, reference, toState, toTensor } from './helpers.js';

// Float32 against PyTorch float64: a few ulps per op, compounded over a handful of layers.
const ATOL = 2e-5;
const RTOL = 2e-4;

describe('T2T-ViT against PyTorch float64 reference numbers (test/fixtures/make_fixtures.py)', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    use(t2tPlugin);
  });
  const evalCtx = () => new ForwardContext(false);

  it('Token_performer layer: output and pre-projection attention', () => {
    const f = reference.performer;
    const layer = new TokenPerformer(f.dim, f.inDim, new Rng(1));
    const state = toState(f.state);
    loadTorchStateDict(layer, state);
    const x = toTensor(f.input) as tf.Tensor3D;
    const y = layer.forward(x, evalCtx());
    expect(y.shape).toEqual(f.output.shape);
    expectClose(y.dataSync(), f.output.data, ATOL, RTOL);
    const attention = tf.tidy(() => {
      const a = layer.attend(layer.norm1.forward(x) as tf.Tensor3D);
      return [a.output, a.values];
    });
    expectClose(attention[0]!.dataSync(), f.attentionOutput.data, ATOL, RTOL);
    expectClose(attention[1]!.dataSync(), f.values.data, ATOL, RTOL);
    tf.dispose([x, y, ...attention, ...Object.values(state)]);
    layer.dispose();
  });

  it('Token_transformer layer (single head, scale from the input width, skip through v)', () => {
    const f = reference.transformer;
    const layer = new TokenTransformer(f.dim, f.inDim, new Rng(1));
    const state = toState(f.state);
    loadTorchStateDict(layer, state);
    const x = toTensor(f.input) as tf.Tensor3D;
    const y = layer.forward(x, evalCtx());
    expectClose(y.dataSync(), f.output.data, ATOL, RTOL);
    tf.dispose([x, y, ...Object.values(state)]);
    layer.dispose();
  });

  for (const [name, Layer] of [['performer', TokenPerformer], ['transformer', TokenTransformer]] as const) {
    it(`Token_${name}: both LayerNorms use eps 1e-5, on inputs with spread ~1e-3 where 1e-6 in either would be far off`, () => {
      const f = reference[`${name}_small`];
      const layer = new Layer(f.dim, f.inDim, new Rng(1));
      const state = toState(f.state);
      loadTorchStateDict(layer, state);
      const x = toTensor(f.input) as tf.Tensor3D;
      const y = layer.forward(x, evalCtx());
      expectClose(y.dataSync(), f.output.data, ATOL, RTOL);
      // Each alternative is further from the expected output than 100x the tolerance allows anywhere.
      const allowed = ATOL + RTOL * Math.max(...f.output.data.map(Math.abs));
      for (const alternative of ['output_norm1_eps_1e-6', 'output_norm2_eps_1e-6']) {
        const gap = Math.max(...f.output.data.map((v: number, i: number) => Math.abs(v - f[alternative].data[i])));
        expect(gap, alternative).toBeGreaterThan(100 * allowed);
      }
      tf.dispose([x, y, ...Object.values(state)]);
      layer.dispose();
    });
  }

  for (const tokensType of ['performer', 'transformer'] as const) {
    it(`whole T2T module with ${tokensType} layers on a non-square 36x28 image`, () => {
      const f = reference[`module_${tokensType}`];
      const [, h, w, c] = f.images.shape;
      const module = new T2TModule({ layout: 'image', height: h, width: w, channels: c }, { embedDim: f.embedDim, tokenDim: f.tokenDim, tokensType }, new Rng(2));
      expect([module.outputGrid.height, module.outputGrid.width]).toEqual(f.grid);
      const state = toState(f.state);
      loadTorchStateDict(module, state);
      const images = toTensor(f.images) as tf.Tensor4D;
      const y = module.tokenize(images, evalCtx());
      expect(y.shape).toEqual(f.output.shape);
      expectClose(y.dataSync(), f.output.data, ATOL, RTOL);
      tf.dispose([images, y, ...Object.values(state)]);
      module.dispose();
    });
  }

  it('whole T2T-ViT (performer stem, 2 blocks, qk_scale = embed_dim^-0.5) from a state dict with the official names', () => {
    const f = reference.model;
    const model = createModelFromSpec(
      t2tVitSpec({
        name: 't2t_tiny',
        imgSize: f.imgSize,
        numClasses: f.numClasses,
        tokenDim: f.tokenDim,
        embedDim: f.embedDim,
        depth: f.depth,
        numHeads: f.numHeads,
        mlpRatio: f.mlpRatio,
        qkScale: 'embed',
      }),
    );
    // The model's own frozen sinusoid table equals PyTorch's before anything is loaded.
    expectClose(model.stateDict().pos_embed!.dataSync(), f.state.pos_embed.data, 1e-6);
    const state = toState(f.state);
    const result = loadT2TStateDict(model, state);
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    const images = toTensor(f.images) as tf.Tensor4D;
    const logits = model.predict(images);
    expectClose(logits.dataSync(), f.logits.data, ATOL, RTOL);
    tf.dispose([images, logits, ...Object.values(state)]);
    model.dispose();
  });

  it('resizePosEmbed equals F.interpolate bicubic on the grid part and keeps the class row', () => {
    const f = reference.resize;
    const pe = toTensor(f.input);
    const from = { height: f.from[0], width: f.from[1] };
    const up = resizePosEmbed(pe, from, { height: f.to[0], width: f.to[1] });
    expect(up.shape).toEqual(f.output.shape);
    expectClose(up.dataSync(), f.output.data, 1e-5, 1e-5);
    const down = resizePosEmbed(pe, from, { height: f.toSmall[0], width: f.toSmall[1] });
    expectClose(down.dataSync(), f.outputSmall.data, 1e-5, 1e-5);
    const same = resizePosEmbed(pe, from, from);
    expectClose(same.dataSync(), f.input.data, 1e-6);
    tf.dispose([pe, up, down, same]);
  });
});
