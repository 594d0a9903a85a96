import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeSafetensors, FormatError, setBackend, tf } from '../src/index.js';
import { loadSafetensors } from '../src/node.js';

// Headers with random names, dtypes, shapes and offsets over random data: every file is either
// loaded exactly as an independent reading of the format says, or refused with a FormatError,
// and what a file claims (shapes up to 2^40 elements, offsets up to 2^53) never costs memory.

const SIZES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** The reference reading: the value of element i of a tensor of `dtype` at `at` (independent of the loader's decoder). */
function referenceValue(dtype: string, data: DataView, at: number): number {
  switch (dtype) {
    case 'F64': return Math.fround(data.getFloat64(at, true));
    case 'F32': return data.getFloat32(at, true);
    case 'F16': {
      const h = data.getUint16(at, true);
      const e = (h >> 10) & 31, f = h & 1023, s = h >> 15 ? -1 : 1;
      return e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1024 + f) * 2 ** (e - 25);
    }
    case 'BF16': {
      const v = new DataView(new ArrayBuffer(4));
      v.setUint16(0, data.getUint16(at, true), false); // the upper half of a big-endian float32
      return v.getFloat32(0, false);
    }
    case 'I64': return Number(data.getBigInt64(at, true));
    case 'I32': return data.getInt32(at, true);
    case 'I16': return data.getInt16(at, true);
    case 'I8': return data.getInt8(at);
    default: return data.getUint8(at);
  }
}

type Entry = { name: string; dtype: unknown; shape: unknown; offsets: unknown };

/** Whether the format admits this header over `dataBytes` bytes: the oracle the loader must agree with. */
function admitted(entries: Entry[], metadata: unknown, dataBytes: number, data: DataView): boolean {
  const names = new Set<string>();
  const spans: Array<[number, number]> = [];
  for (const e of entries) {
    // `__metadata__` is reserved: as a tensor entry it is a metadata object whose values are not strings.
    if (names.has(e.name) || e.name === '' || e.name in {} || e.name === '__metadata__') return false;
    names.add(e.name);
    if (typeof e.dtype !== 'string' || !(e.dtype in SIZES)) return false;
    if (!Array.isArray(e.shape) || e.shape.length > 8 || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return false;
    const o = e.offsets as number[];
    if (!Array.isArray(o) || o.length !== 2 || !o.every((x) => Number.isSafeInteger(x) && x >= 0) || o[0]! > o[1]! || o[1]! > dataBytes) return false;
    const count = e.shape.reduce((a: bigint, d: number) => a * BigInt(d), 1n);
    if (count * BigInt(SIZES[e.dtype]!) !== BigInt(o[1]! - o[0]!)) return false;
    if (e.dtype === 'I64') for (let i = o[0]!; i < o[1]!; i += 8) if (Math.abs(Number(data.getBigInt64(i, true))) > 2 ** 31 - 1 && data.getBigInt64(i, true) !== -(2n ** 31n)) return false;
    spans.push([o[0]!, o[1]!]);
  }
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) return false;
    if (Object.entries(metadata).some(([k, v]) => typeof v !== 'string' || k in {})) return false;
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  for (const [b, e] of spans) {
    if (b !== at) return false;
    at = e;
  }
  return at === dataBytes;
}

const dtypeArb = fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...Object.keys(SIZES)) }, { weight: 1, arbitrary: fc.constantFrom('F8', 'f32', 'U64', '', 42, null) });
const dimArb = fc.oneof({ weight: 30, arbitrary: fc.integer({ min: 0, max: 5 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, 2 ** 40, 2 ** 53, '3') });
const nameArb = fc.oneof({ weight: 10, arbitrary: fc.string({ minLength: 1, maxLength: 8 }) }, { weight: 1, arbitrary: fc.constantFrom('a', '__proto__', 'constructor', 'hasOwnProperty', '', '__metadata__') });
const layoutArb = fc.record({
  entries: fc.array(fc.record({ name: nameArb, dtype: dtypeArb, shape: fc.array(dimArb, { maxLength: 4 }) }), { maxLength: 5 }),
  // How the offsets are made: packed (the writer's layout), packed then nudged, or arbitrary numbers.
  offsets: fc.array(fc.oneof({ weight: 20, arbitrary: fc.constant('packed' as const) }, { weight: 2, arbitrary: fc.integer({ min: -8, max: 8 }) }, { weight: 1, arbitrary: fc.tuple(fc.nat(64), fc.oneof(fc.nat(64), fc.constant(2 ** 53))) }), { minLength: 5, maxLength: 5 }),
  extraBytes: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -4, max: 4 }) }),
  metadata: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 4, arbitrary: fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 2 }) }, { weight: 1, arbitrary: fc.constantFrom(null, [], 'x', { n: 1 }) }),
  seed: fc.integer(),
});

function buildFile(layout: typeof layoutArb extends fc.Arbitrary<infer T> ? T : never): { bytes: Uint8Array; entries: Entry[]; metadata: unknown; dataBytes: number } {
  const entries: Entry[] = [];
  let at = 0;
  layout.entries.forEach((e: { name: string; dtype: unknown; shape: unknown[] }, i: number) => {
    const size = typeof e.dtype === 'string' && e.dtype in SIZES ? SIZES[e.dtype]! : 4;
    const count = e.shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0 && d <= 5) ? (e.shape as number[]).reduce((a, b) => a * b, 1) : 1;
    const mode = layout.offsets[i];
    let offsets: unknown;
    if (mode === 'packed') offsets = [at, at + count * size];
    else if (typeof mode === 'number') offsets = [at, Math.max(at, at + count * size + mode)];
    else offsets = mode;
    if (Array.isArray(offsets) && typeof offsets[1] === 'number' && offsets[1] < 4096) at = Math.max(at, offsets[1]);
    entries.push({ name: e.name, dtype: e.dtype, shape: e.shape, offsets });
  });
  const dataBytes = Math.max(0, at + layout.extraBytes);
  // Built as text so that duplicate names stay duplicates.
  const parts = entries.map((e) => `${JSON.stringify(e.name)}:${JSON.stringify({ dtype: e.dtype, shape: e.shape, data_offsets: e.offsets })}`);
  if (layout.metadata !== undefined) parts.splice(layout.seed & 1 ? 0 : parts.length, 0, `"__metadata__":${JSON.stringify(layout.metadata)}`);
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const bytes = new Uint8Array(8 + json.length + dataBytes);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  let s = layout.seed | 0;
  for (let i = 8 + json.length; i < bytes.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) | 0;
    // Mostly small values so that I64 data usually fits int32 and floats are ordinary.
    bytes[i] = (s >>> 16) & (i % 8 === 7 ? 0x3f : 0xff);
  }
  return { bytes, entries, metadata: layout.metadata, dataBytes };
}

const outcomes = { loaded: 0, refused: 0 };

function checkAgainstOracle(content: { tensors: Record<string, tf.Tensor>; metadata: Record<string, string> } | FormatError, file: ReturnType<typeof buildFile>): void {
  const data = new DataView(file.bytes.buffer, file.bytes.length - file.dataBytes, file.dataBytes);
  const ok = admitted(file.entries, file.metadata, file.dataBytes, data);
  if (content instanceof FormatError) {
    expect(ok, `refused an admissible file: ${content.message}`).toBe(false);
    outcomes.refused++;
    return;
  }
  expect(ok, 'loaded a file the format refuses').toBe(true);
  outcomes.loaded++;
  expect(Object.keys(content.tensors).sort()).toEqual(file.entries.map((e) => e.name).sort());
  for (const e of file.entries) {
    const t = content.tensors[e.name]!;
    expect(t.shape).toEqual(e.shape);
    const values = t.dataSync();
    const [begin] = e.offsets as [number, number];
    const size = SIZES[e.dtype as string]!;
    for (let i = 0; i < values.length; i++) {
      const expected = referenceValue(e.dtype as string, data, begin + i * size);
      expect(Object.is(values[i], expected) || values[i] === expected, `${e.name}[${i}]`).toBe(true);
    }
  }
  if (file.metadata !== undefined) expect(content.metadata).toEqual(file.metadata);
}

async function attempt<T>(load: () => T | Promise<T>): Promise<T | FormatError> {
  try {
    return await load();
  } catch (error) {
    if (error instanceof FormatError) return error;
    throw error; // anything else (RangeError, TypeError, …) fails the property
  }
}

beforeAll(async () => {
  await setBackend('cpu');
});

describe('safetensors fuzz', () => {
  it('decodes or refuses with a FormatError, in agreement with the format, without leaking a tensor', async () => {
    const rssBefore = process.resourceUsage().maxRSS * 1024;
    await fc.assert(
      fc.asyncProperty(layoutArb, async (layout) => {
        const file = buildFile(layout);
        const before = tf.memory().numTensors;
        const content = await attempt(() => decodeSafetensors(file.bytes, 'fuzz'));
        checkAgainstOracle(content, file);
        if (!(content instanceof FormatError)) {
          // Decoded tensors never exceed 4 bytes per stored byte (U8/BOOL widen to int32).
          expect(Object.values(content.tensors).reduce((a, t) => a + t.size * 4, 0)).toBeLessThanOrEqual(4 * file.dataBytes);
          tf.dispose(Object.values(content.tensors));
        }
        expect(tf.memory().numTensors).toBe(before);
      }),
      { numRuns: 400, seed: 20261130 },
    );
    // Shapes of 2^40 elements and offsets of 2^53 were claimed; none of it may have been allocated.
    expect(process.resourceUsage().maxRSS * 1024 - rssBefore).toBeLessThan(128 * 1024 * 1024);
    // Both outcomes are exercised, so neither half of the property is vacuous.
    expect(outcomes.loaded).toBeGreaterThan(40);
    expect(outcomes.refused).toBeGreaterThan(40);
  });

  it('loadSafetensors (reading ranges from the file) agrees with the in-memory decoder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-st-fuzz-'));
    await fc.assert(
      fc.asyncProperty(layoutArb, async (layout) => {
        const file = buildFile(layout);
        const path = join(dir, 'f.safetensors');
        writeFileSync(path, file.bytes);
        const before = tf.memory().numTensors;
        const content = await attempt(() => loadSafetensors(path));
        checkAgainstOracle(content, file);
        if (!(content instanceof FormatError)) tf.dispose(Object.values(content.tensors));
        expect(tf.memory().numTensors).toBe(before);
      }),
      { numRuns: 150, seed: 7 },
    );
  });
});
