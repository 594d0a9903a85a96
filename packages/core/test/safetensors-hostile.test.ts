import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, symlinkSync, writeFileSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, FormatError, setBackend, tf } from '../src/index.js';
import { loadSafetensors } from '../src/node.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-st-hostile-'));

/** A safetensors file from a header object (or raw header text) and a data section. */
export function fileOf(header: unknown, data: Uint8Array | number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const bytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + bytes.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(bytes, 8 + json.length);
  return out;
}

/** Peak resident memory of this process so far, in bytes (monotonic: growth means a new peak). */
const peakRss = () => process.resourceUsage().maxRSS * 1024;

beforeAll(async () => {
  await setBackend('cpu');
});

describe('safetensors from untrusted files', () => {
  it('refuses aliasing entries before decoding anything (200 views of one 1 MiB span)', async () => {
    // Old behaviour: every entry was decoded (6 GB for the 4.3 MB file) and the overlap check ran afterwards.
    const span = 1024 * 1024;
    const header: Record<string, unknown> = {};
    for (let i = 0; i < 200; i++) header[`w${i}`] = { dtype: 'F32', shape: [span / 4], data_offsets: [0, span] };
    const path = join(dir, 'alias.safetensors');
    writeFileSync(path, fileOf(header, span));
    const tensorsBefore = tf.memory().numTensors;
    const rssBefore = peakRss();
    await expect(loadSafetensors(path)).rejects.toThrow(/tensors 'w\d+' and 'w\d+' overlap/);
    expect(peakRss() - rssBefore).toBeLessThan(64 * 1024 * 1024);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('reads only what the header describes: a bad header in front of 400 MB is refused without reading the data', async () => {
    const path = join(dir, 'big.safetensors');
    const head = fileOf({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 9] } }, 0);
    writeFileSync(path, head);
    const fd = openSync(path, 'r+');
    ftruncateSync(fd, head.length + 400 * 1024 * 1024); // sparse: costs no disk
    closeSync(fd);
    const rssBefore = peakRss();
    await expect(loadSafetensors(path)).rejects.toThrow(/tensor 'a' of shape \[2\] and dtype F32 needs 8 bytes, but its offsets span 9/);
    expect(peakRss() - rssBefore).toBeLessThan(64 * 1024 * 1024);
  });

  it('refuses duplicate names (JSON.parse would keep only the last)', () => {
    const text = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    expect(() => decodeSafetensors(fileOf(text, 8), 'dup.safetensors')).toThrow(/dup\.safetensors: the header names 'a' more than once/);
  });

  it("refuses '__proto__'-style names instead of losing (and leaking) the tensor", () => {
    const before = tf.memory().numTensors;
    for (const name of ['__proto__', 'constructor', 'toString']) {
      const text = `{"ok":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},${JSON.stringify(name)}:{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`;
      expect(() => decodeSafetensors(fileOf(text, 8))).toThrow(new RegExp(`entry name '${name}' is refused`));
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a __metadata__ that is not an object of strings', () => {
    for (const metadata of [[], null, 'x', { step: 3 }]) {
      expect(() => decodeSafetensors(fileOf({ __metadata__: metadata }, 0))).toThrow(/__metadata__/);
    }
    expect(decodeSafetensors(fileOf({ __metadata__: { format: 'pt' } }, 0)).metadata).toEqual({ format: 'pt' });
  });

  it('refuses bytes that no tensor uses, between or after tensors', () => {
    const gap = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } };
    expect(() => decodeSafetensors(fileOf(gap, 12))).toThrow(/bytes 4\.\.8 of the data section belong to no tensor \(before 'b'\)/);
    const trailing = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } };
    expect(() => decodeSafetensors(fileOf(trailing, 8))).toThrow(/4 bytes after the last tensor/);
  });

  it('refuses shapes whose size overflows instead of wrapping', () => {
    const header = { a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40, 0.5], data_offsets: [0, 4] } };
    expect(() => decodeSafetensors(fileOf(header, 4))).toThrow(/shape \[1099511627776,1099511627776,0\.5\]/);
    const overflow = { a: { dtype: 'F32', shape: [2 ** 52, 2 ** 52], data_offsets: [0, 0] } };
    expect(() => decodeSafetensors(fileOf(overflow, 0))).toThrow(/needs \d+ bytes, but its offsets span 0/);
  });

  it('refuses files that are not regular files, naming the path: a directory, a FIFO, a symlink to /dev/zero', async () => {
    const folder = join(dir, 'folder.safetensors');
    mkdirSync(folder);
    await expect(loadSafetensors(folder)).rejects.toThrow(`${folder} is a directory`);
    const fifo = join(dir, 'pipe.safetensors');
    execFileSync('mkfifo', [fifo]);
    await expect(loadSafetensors(fifo)).rejects.toThrow(`${fifo} is a named pipe`);
    const zero = join(dir, 'zero.safetensors');
    symlinkSync('/dev/zero', zero);
    await expect(loadSafetensors(zero)).rejects.toThrow(`${zero} is a device`);
    await expect(loadSafetensors(zero)).rejects.toBeInstanceOf(FormatError);
  });

  it('still loads what it writes, zero-size tensors included', async () => {
    const path = join(dir, 'good.safetensors');
    const a = tf.tensor([1.5, -2, 3], [3]);
    const empty = tf.zeros([0, 4]);
    writeFileSync(path, encodeSafetensors({ a, empty }, { step: '3' }));
    const { tensors, metadata } = await loadSafetensors(path);
    expect(metadata).toEqual({ step: '3' });
    expect(Array.from(tensors.a!.dataSync())).toEqual([1.5, -2, 3]);
    expect(tensors.empty!.shape).toEqual([0, 4]);
    tf.dispose([a, empty, ...Object.values(tensors)]);
  });
});
