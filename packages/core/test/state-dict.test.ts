import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createModel,
  decodeSafetensors,
  encodeSafetensors,
  encodeSafetensorsAsync,
  FormatError,
  loadTorchStateDict,
  Rng,
  setBackend,
  StateDictError,
  tf,
  torchStateDict,
  TransformerBlock,
} from '../src/index.js';
import { loadSafetensors, saveSafetensors } from '../src/node.js';

beforeAll(async () => {
  await setBackend('wasm');
});

const tinyVit = (seed: number) => createModel('deit_tiny_patch16_224', { imgSize: 16, patchSize: 8, numClasses: 3, seed });

describe('state dicts', () => {
  it('use the names of the official PyTorch checkpoints', () => {
    const m = tinyVit(0);
    const keys = Object.keys(m.stateDict());
    expect(keys.slice(0, 4)).toEqual(['cls_token', 'pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias']);
    expect(keys).toContain('blocks.11.attn.qkv.weight');
    expect(keys).toContain('blocks.3.mlp.fc2.bias');
    expect(keys.slice(-4)).toEqual(['norm.weight', 'norm.bias', 'head.weight', 'head.bias']);
    m.dispose();
  });

  it('round-trip: loading one model’s state into another makes them compute the same', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1001, max: 2000 }), (seedA, seedB) => {
        const a = tinyVit(seedA);
        const b = tinyVit(seedB);
        const x = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', seedA) as tf.Tensor4D;
        const ya = a.predict(x);
        const yb0 = b.predict(x);
        expect(Array.from(yb0.dataSync())).not.toEqual(Array.from(ya.dataSync()));
        b.loadStateDict(a.stateDict());
        const yb = b.predict(x);
        expect(Array.from(yb.dataSync())).toEqual(Array.from(ya.dataSync()));
        tf.dispose([x, ya, yb0, yb]);
        a.dispose();
        b.dispose();
      }),
      { seed: 42, numRuns: 4 },
    );
  });

  it('names every missing, unexpected and mis-shaped key, and writes nothing', () => {
    const m = tinyVit(0);
    const state = { ...m.stateDict() };
    const before = Array.from(m.stateDict()['head.bias']!.dataSync());
    delete state['norm.bias'];
    state['head.bias'] = tf.ones([4]);
    state['blocks.0.attn.extra'] = tf.zeros([1]);
    let message = '';
    try {
      m.loadStateDict(state);
    } catch (error) {
      expect(error).toBeInstanceOf(StateDictError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/missing keys: norm\.bias/);
    expect(message).toMatch(/unexpected keys: blocks\.0\.attn\.extra/);
    expect(message).toMatch(/head\.bias: shape \[4\] does not match the module's \[3\]/);
    expect(Array.from(m.stateDict()['head.bias']!.dataSync())).toEqual(before);
    m.dispose();
  });

  it('refuses integer data for a float parameter (an I32 tensor in a weights file), naming the key', () => {
    const m = tinyVit(0);
    const before = Array.from(m.stateDict()['head.weight']!.dataSync());
    const intWeight = tf.zeros(m.stateDict()['head.weight']!.shape, 'int32');
    expect(() => m.loadStateDict({ ...m.stateDict(), 'head.weight': intWeight })).toThrow(/head\.weight: dtype int32 cannot load into a float32 parameter/);
    expect(Array.from(m.stateDict()['head.weight']!.dataSync())).toEqual(before);
    intWeight.dispose();
    m.dispose();
  });

  it('PyTorch layouts: linear [out, in] and conv OIHW are transposed on load and back on export', () => {
    const block = new TransformerBlock({ layout: 'tokens', grid: { height: 1, width: 2 }, channels: 4, numPrefixTokens: 0 }, { numHeads: 2 }, new Rng(0));
    const torchState = torchStateDict(block);
    expect(torchState['mlp.fc1.weight']!.shape).toEqual([16, 4]);
    expect(block.mlp.fc1.weight.shape).toEqual([4, 16]);
    const other = new TransformerBlock({ layout: 'tokens', grid: { height: 1, width: 2 }, channels: 4, numPrefixTokens: 0 }, { numHeads: 2 }, new Rng(9));
    loadTorchStateDict(other, torchState);
    expect(Array.from(other.mlp.fc1.weight.dataSync())).toEqual(Array.from(block.mlp.fc1.weight.dataSync()));
    const m = tinyVit(0);
    const exported = torchStateDict(m);
    expect(exported['patch_embed.proj.weight']!.shape).toEqual([192, 3, 8, 8]);
    expect(() => loadTorchStateDict(m, { 'head.weight': tf.zeros([3, 192, 1]) }, { strict: false })).toThrow(/head\.weight: PyTorch tensor of shape \[3, 192, 1\] should have rank 2/);
    tf.dispose(Object.values(exported));
    tf.dispose(Object.values(torchState));
    m.dispose();
  });
});

describe('safetensors', () => {
  it('saves atomically and loads back bit for bit, with metadata', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-st-'));
    const path = join(dir, 'w.safetensors');
    const m = tinyVit(3);
    await saveSafetensors(path, m.stateDict(), { format: 'pt' });
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
    const { tensors, metadata } = await loadSafetensors(path);
    expect(metadata).toEqual({ format: 'pt' });
    for (const [k, v] of Object.entries(m.stateDict())) expect(Array.from(tensors[k]!.dataSync())).toEqual(Array.from(v.dataSync()));
    tf.dispose(Object.values(tensors));
    m.dispose();
  });

  it('writes the reference layout byte for byte: metadata, sorted keys, space padding to 8 bytes, packed F32 data', async () => {
    const tensors = { b: tf.tensor1d([1.5, -2]), a: tf.tensor2d([[0.25], [3]]), n: tf.tensor1d([7], 'int32') };
    const header = {
      __metadata__: { format: 'pt' },
      a: { dtype: 'F32', shape: [2, 1], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
      n: { dtype: 'F32', shape: [1], data_offsets: [16, 20] },
    };
    const json = new TextEncoder().encode(JSON.stringify(header));
    const padded = json.length + ((8 - ((8 + json.length) % 8)) % 8);
    const expected = new Uint8Array(8 + padded + 20).fill(0x20, 8 + json.length, 8 + padded);
    new DataView(expected.buffer).setBigUint64(0, BigInt(padded), true);
    expected.set(json, 8);
    const data = new DataView(expected.buffer, 8 + padded);
    [0.25, 3, 1.5, -2, 7].forEach((v, i) => data.setFloat32(4 * i, v, true));
    expect(Buffer.from(encodeSafetensors(tensors, { format: 'pt' })).equals(Buffer.from(expected))).toBe(true);
    expect(Buffer.from(await encodeSafetensorsAsync(tensors, { format: 'pt' })).equals(Buffer.from(expected))).toBe(true);
    // saveSafetensors streams the same bytes to disk, tensor by tensor.
    const path = join(mkdtempSync(join(tmpdir(), 'tessera-st-')), 'ref.safetensors');
    await saveSafetensors(path, tensors, { format: 'pt' });
    expect(readFileSync(path).equals(Buffer.from(expected))).toBe(true);
    tf.dispose(Object.values(tensors));
  });

  it('a save that fails after the header is written leaves neither the file nor a temporary file, and keeps the old file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-st-'));
    const path = join(dir, 'w.safetensors');
    const old = { a: tf.tensor1d([1, 2]) };
    await saveSafetensors(path, old);
    const before = readFileSync(path);
    const failing = tf.tensor1d([3, 4]);
    const reads = vi.spyOn(failing, 'data').mockRejectedValue(new Error('device lost'));
    const before2 = tf.memory().numTensors;
    await expect(saveSafetensors(path, { a: tf.keep(old.a), b: failing })).rejects.toThrow('device lost');
    expect(reads).toHaveBeenCalledOnce();
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
    expect(readFileSync(path).equals(before)).toBe(true);
    await expect(saveSafetensors(join(dir, 'missing', 'x.safetensors'), old)).rejects.toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
    expect(tf.memory().numTensors).toBe(before2);
    tf.dispose([old.a, failing]);
  });

  it('reads the dtypes PyTorch writes (F16, BF16, F64, I64) as float32/int32', () => {
    const header = {
      h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] },
      b: { dtype: 'BF16', shape: [1], data_offsets: [4, 6] },
      d: { dtype: 'F64', shape: [1], data_offsets: [6, 14] },
      n: { dtype: 'I64', shape: [1], data_offsets: [14, 22] },
    };
    const data = new DataView(new ArrayBuffer(22)); // packed with no gap, as the reference writer does
    data.setUint16(0, 0x3c00, true); // 1.0
    data.setUint16(2, 0xc000, true); // -2.0
    data.setUint16(4, 0x4049, true); // bf16 3.140625
    data.setFloat64(6, 0.1, true);
    data.setBigInt64(14, 7n, true);
    const json = new TextEncoder().encode(JSON.stringify(header));
    const bytes = new Uint8Array(8 + json.length + 22);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
    bytes.set(json, 8);
    bytes.set(new Uint8Array(data.buffer), 8 + json.length);
    const { tensors } = decodeSafetensors(bytes);
    expect(Array.from(tensors.h!.dataSync())).toEqual([1, -2]);
    expect(tensors.b!.dataSync()[0]).toBeCloseTo(3.140625, 6);
    expect(tensors.d!.dataSync()[0]).toBeCloseTo(0.1, 7);
    expect(tensors.n!.dtype).toBe('int32');
    tf.dispose(Object.values(tensors));
  });

  it('refuses malformed, truncated and oversized files with a clear error', async () => {
    const good = encodeSafetensors({ a: tf.ones([2, 2]) });
    expect(() => decodeSafetensors(good.subarray(0, 5))).toThrow(/too short/);
    expect(() => decodeSafetensors(good.subarray(0, good.length - 4))).toThrow(/tensor 'a' ends at byte 16 of a 12-byte data section \(truncated\?\)/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => decodeSafetensors(huge)).toThrow(/header length 1099511627776 exceeds the 100000000-byte limit/);
    const garbage = new Uint8Array(12);
    new DataView(garbage.buffer).setBigUint64(0, 4n, true);
    garbage.set([0x7b, 0x7b, 0x7b, 0x7b], 8);
    expect(() => decodeSafetensors(garbage, 'x.safetensors')).toThrow(/x\.safetensors: header is not valid UTF-8 JSON/);
    const badShape = JSON.stringify({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } });
    const enc = new TextEncoder().encode(badShape);
    const file = new Uint8Array(8 + enc.length + 8);
    new DataView(file.buffer).setBigUint64(0, BigInt(enc.length), true);
    file.set(enc, 8);
    expect(() => decodeSafetensors(file)).toThrow(/needs 12 bytes, but its offsets span 8/);
    const dir = mkdtempSync(join(tmpdir(), 'tessera-st-'));
    writeFileSync(join(dir, 'bad.safetensors'), good.subarray(0, 20));
    await expect(loadSafetensors(join(dir, 'bad.safetensors'))).rejects.toThrow(FormatError);
    await expect(loadSafetensors(join(dir, 'missing.safetensors'))).rejects.toThrow(/cannot read .*missing\.safetensors/);
  });
});
