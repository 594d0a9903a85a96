import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Attention, ForwardContext, Rng, setBackend, tf } from '../src/index.js';
import { wasmAttentionHeadsActive, wasmHeadsToTokens, wasmTokensToHeads } from '../src/ops/wasm-attention-heads.js';

/*
 * The head-layout kernels (src/ops/kernels/attention-heads.wat) are a permutation, so
 * they are checked for exact equality against the index map written out here:
 * heads[s][b, h, n, j] = tokens[b, n, (s·H + h)·d + j]; their gradients are the inverse
 * permutation of the incoming gradient, also exactly.
 */

/** tokens [B, N, S·H·d] → S arrays [B, H, N, d] by the index map. */
function referenceSplit(tokens: Float32Array, B: number, N: number, S: number, H: number, d: number): Float32Array[] {
  const parts = Array.from({ length: S }, () => new Float32Array(B * H * N * d));
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++)
      for (let s = 0; s < S; s++)
        for (let h = 0; h < H; h++)
          for (let j = 0; j < d; j++) parts[s]![((b * H + h) * N + n) * d + j] = tokens[(b * N + n) * S * H * d + (s * H + h) * d + j]!;
  return parts;
}

const values = (size: number, salt: number) => Float32Array.from({ length: size }, (_, i) => Math.fround(Math.sin(i * 0.37 + salt) * 5));

describe.each([
  [2, 5, 3, 2, 4],
  [1, 3, 3, 3, 3],
  [3, 4, 1, 2, 5],
])('tokens ↔ heads on wasm: B %i, N %i, %i parts, %i heads of %i', (B, N, S, H, d) => {
  beforeAll(async () => {
    await setBackend('wasm');
  });

  it('splits exactly as the index map, and the gradient is the inverse map exactly, leak-free', () => {
    expect(wasmAttentionHeadsActive()).toBe(true);
    const tokens = values(B * N * S * H * d, 0.5);
    const x = tf.tensor3d(tokens, [B, N, S * H * d]);
    const r = Array.from({ length: S }, (_, s) => values(B * H * N * d, 2 + s));
    const rt = r.map((v) => tf.tensor4d(v, [B, H, N, d]));
    const before = tf.memory().numTensors;
    const parts = wasmTokensToHeads(x, S, H)!;
    const ref = referenceSplit(tokens, B, N, S, H, d);
    parts.forEach((p, s) => {
      expect(p.shape).toEqual([B, H, N, d]);
      expect(p.dataSync()).toEqual(ref[s]);
    });
    const back = wasmHeadsToTokens(parts)!;
    expect(back.dataSync()).toEqual(tokens);
    tf.dispose([...parts, back]);
    expect(tf.memory().numTensors).toBe(before);
    // d/dx Σ_s Σ heads[s]·r[s] puts r[s][b, h, n, j] at tokens' (b, n, s, h, j).
    const dx = tf.grad((t: tf.Tensor) => tf.addN(wasmTokensToHeads(t as tf.Tensor3D, S, H)!.map((p, s) => tf.sum(tf.mul(p, rt[s]!)))))(x);
    const expected = new Float32Array(tokens.length);
    for (let b = 0; b < B; b++)
      for (let n = 0; n < N; n++)
        for (let s = 0; s < S; s++)
          for (let h = 0; h < H; h++)
            for (let j = 0; j < d; j++) expected[(b * N + n) * S * H * d + (s * H + h) * d + j] = r[s]![((b * H + h) * N + n) * d + j]!;
    expect(dx.dataSync()).toEqual(expected);
    dx.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // and back: d/dheads Σ tokens(heads)·w is w split by the index map
    const w = tf.tensor3d(values(tokens.length, 9), [B, N, S * H * d]);
    const hs = ref.map((v) => tf.tensor4d(v, [B, H, N, d]));
    const dh = tf.grads((...ts: tf.Tensor[]) => tf.sum(tf.mul(wasmHeadsToTokens(ts as tf.Tensor4D[])!, w)))(hs);
    const wSplit = referenceSplit(w.dataSync() as Float32Array, B, N, S, H, d);
    dh.forEach((g, s) => expect(g.dataSync()).toEqual(wSplit[s]));
    tf.dispose([x, ...rt, w, ...hs, ...dh]);
  });
});

describe('Attention with the head-layout kernels', () => {
  let previous: Parameters<typeof setBackend>[0];
  beforeAll(() => {
    previous = tf.getBackend() as typeof previous;
  });
  afterAll(async () => {
    await setBackend(previous);
  });

  /** Output and input gradient of Σ attention(x)·r. */
  async function attend(backend: 'cpu' | 'wasm') {
    await setBackend(backend);
    const attention = new Attention(12, new Rng(3), { numHeads: 3 });
    const x = tf.tensor3d(values(2 * 7 * 12, 1), [2, 7, 12]);
    const r = tf.tensor3d(values(2 * 7 * 12, 4), [2, 7, 12]);
    const ctx = new ForwardContext(false);
    const y = attention.forward(x, ctx);
    const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(attention.forward(t as tf.Tensor3D, ctx), r)))(x);
    const out = { y: Array.from(y.dataSync()), dx: Array.from(dx.dataSync()) };
    tf.dispose([x, r, y, dx]);
    attention.dispose();
    return out;
  }

  it('gives the cpu composite’s output and input gradient (1e-5 of their scale)', async () => {
    const cpu = await attend('cpu');
    const wasm = await attend('wasm');
    for (const key of ['y', 'dx'] as const) {
      const scale = Math.max(...cpu[key].map(Math.abs));
      wasm[key].forEach((v, i) => expect(Math.abs(v - cpu[key][i]!)).toBeLessThanOrEqual(1e-5 * scale));
    }
  });
});
