import { beforeAll, describe, expect, it } from 'vitest';
import { createModel, decodeSafetensors, encodeSafetensors, setBackend, StateDictError, tf, torchStateDict, use } from '@tessera/core';
import { loadT2TStateDict, resizePosEmbed, t2tPlugin, type T2TModule } from '../src/index.js';

describe('official-name state dicts through safetensors', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    use(t2tPlugin);
  });

  it('a state dict written in PyTorch layout reloads into a fresh model with equal outputs', () => {
    const source = createModel('t2t_vit_7', { imgSize: 48, numClasses: 10, seed: 1 });
    const torchState = torchStateDict(source);
    // PyTorch layouts: linear weights [out, in]; the performer's w [m, emb] and the sinusoid as stored.
    expect(torchState['head.weight']!.shape).toEqual([10, 256]);
    expect(torchState['tokens_to_token.attention1.kqv.weight']!.shape).toEqual([192, 147]);
    expect(torchState['tokens_to_token.attention1.w']!.shape).toEqual([32, 64]);
    expect(torchState['pos_embed']!.shape).toEqual([1, 1 + 3 * 3, 256]);
    const bytes = encodeSafetensors(torchState);
    tf.dispose(Object.values(torchState));

    const { tensors } = decodeSafetensors(bytes);
    const target = createModel('t2t_vit_7', { imgSize: 48, numClasses: 10, seed: 2 });
    const images = tf.randomNormal([2, 48, 48, 3]) as tf.Tensor4D;
    const differentBefore = tf.tidy(() => tf.max(tf.abs(tf.sub(source.predict(images), target.predict(images)))).dataSync()[0]!);
    expect(differentBefore).toBeGreaterThan(1e-3);
    expect(loadT2TStateDict(target, tensors)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(source.predict(images), target.predict(images)))).dataSync()[0]!);
    expect(diff).toBe(0);

    // Missing keys are refused by name and leave the model untouched.
    const { ['head.bias']: _dropped, ...partial } = tensors;
    expect(() => loadT2TStateDict(target, partial)).toThrow(StateDictError);
    expect(() => loadT2TStateDict(target, partial)).toThrow(/missing keys: head\.bias/);
    tf.dispose([images, ...Object.values(tensors)]);
    source.dispose();
    target.dispose();
  });

  it('a checkpoint made for another input size loads with its pos_embed resized bicubically (class row kept)', () => {
    const small = createModel('t2t_vit_7', { imgSize: 48, numClasses: 3 });
    const state = torchStateDict(small);
    const large = createModel('t2t_vit_7', { imgSize: 80, numClasses: 3, seed: 5 });
    expect((large.stage('tokens_to_token') as T2TModule).outputGrid).toEqual({ height: 5, width: 5 });
    loadT2TStateDict(large, state);
    const expected = resizePosEmbed(state.pos_embed!, { height: 3, width: 3 }, { height: 5, width: 5 });
    expect(Array.from(large.stateDict().pos_embed!.dataSync())).toEqual(Array.from(expected.dataSync()));
    expect(Array.from(large.stateDict().pos_embed!.dataSync().slice(0, 256))).toEqual(Array.from(state.pos_embed!.dataSync().slice(0, 256)));
    expect(() => loadT2TStateDict(large, state, { checkpointGrid: { height: 2, width: 4 } })).toThrow(/not a 2x4 grid/);
    tf.dispose([expected, ...Object.values(state)]);
    small.dispose();
    large.dispose();
  });
});
