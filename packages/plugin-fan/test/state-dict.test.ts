import { beforeAll, describe, expect, it } from 'vitest';
import { createModelFromSpec, loadTorchStateDict, setBackend, StateDictError, tf, torchStateDict, use } from '@tessera/core';
import { fanCheckpointFilter, fanPlugin, fanViTSpec } from '../src/index.js';

beforeAll(async () => {
  await setBackend('wasm');
  use(fanPlugin);
});

const spec = (seed: number) => fanViTSpec('fan_state_dict_test', { embedDim: 16, depth: 1, numHeads: 2, patchSize: 8 }, { imgSize: 16, numClasses: 3, seed });

/** What an official checkpoint looks like: class attention with one fused qkv, and the older `pos_embeder.` name. */
function officialFormat(state: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [key, value] of Object.entries(state)) {
    const m = /^(cls_attn_blocks\.\d+\.attn)\.q\.(weight|bias)$/.exec(key);
    if (m) {
      const [prefix, kind] = [m[1]!, m[2]!];
      out[`${prefix}.qkv.${kind}`] = tf.concat(['q', 'k', 'v'].map((p) => state[`${prefix}.${p}.${kind}`]!), 0);
      continue;
    }
    if (/^cls_attn_blocks\.\d+\.attn\.[kv]\./.test(key)) continue;
    out[key.replace(/^pos_embed\./, 'pos_embeder.')] = value;
  }
  return out;
}

describe('official checkpoints', () => {
  it('a state dict with fused class-attention qkv loads by name through the checkpoint filter, and computes the same', () => {
    const source = createModelFromSpec(spec(1));
    const target = createModelFromSpec(spec(2));
    const images = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const torch = torchStateDict(source);
    const official = officialFormat(torch);
    expect(Object.keys(official)).toContain('cls_attn_blocks.0.attn.qkv.weight');
    expect(official['cls_attn_blocks.0.attn.qkv.weight']!.shape).toEqual([48, 16]);
    expect(Object.keys(official)).toContain('pos_embeder.token_projection.weight');
    // Without the filter the fused names do not fit.
    expect(() => loadTorchStateDict(target, official)).toThrow(StateDictError);
    const filtered = fanCheckpointFilter(official);
    expect(loadTorchStateDict(target, filtered)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    const [a, b] = [source.predict(images), target.predict(images)];
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    const created = Object.values(filtered).filter((t) => !Object.values(official).includes(t));
    tf.dispose([images, a, b, ...Object.values(torch), ...Object.values(official).filter((t) => !Object.values(torch).includes(t)), ...created]);
    source.dispose();
    target.dispose();
  });
});
