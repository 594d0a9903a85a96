import { FormatError, InvalidArgumentError } from '../errors.js';
import { tf } from '../tensor/tf.js';

/**
 * safetensors (huggingface/safetensors): 8-byte little-endian header length N, N
 * bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`,
 * then the raw little-endian data. Written here as F32; read from F32, F64, F16,
 * BF16, I64, I32, I16, I8, U8 and BOOL, converted to float32 or int32 tensors.
 *
 * Reading is two steps so that a file never costs more memory than it holds: the
 * header is validated against the size of the data section first (every offset,
 * size, dtype and name, and that the tensors tile the data section exactly, as the
 * reference `validate` in safetensors/src/tensor.rs requires), and only then is any
 * tensor data read or decoded.
 */

/** Headers larger than this are refused before any allocation (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Ranks above this are refused: no state dict needs them, and a huge shape array would only cost memory. */
const MAX_RANK = 8;

const DTYPE_BYTES: Readonly<Record<string, number>> = Object.freeze({ F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 });

const ENTRY_KEYS = ['dtype', 'shape', 'data_offsets'] as const;

export interface SafetensorsContent {
  readonly tensors: Record<string, tf.Tensor>;
  readonly metadata: Record<string, string>;
}

/** One tensor as the header describes it; offsets are relative to the start of the data section. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** A validated header: tensors in header order, and the `__metadata__` strings. */
export interface SafetensorsHeader {
  readonly entries: readonly SafetensorsEntry[];
  readonly metadata: Record<string, string>;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/**
 * Top-level keys of a JSON object text in order, duplicates included. JSON.parse keeps
 * only the last of two equal keys, so a file could otherwise hide a tensor entry.
 */
function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < json.length && json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) keys.push(JSON.parse(json.slice(i, j + 1)) as string);
      expectKey = false;
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = c === '{' && depth === 1;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}

/** A name that would read or replace a property every JS object inherits (`__proto__`, `constructor`, …). */
function isPrototypeName(name: string): boolean {
  return name in Object.prototype;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Parses and validates a safetensors header against the size of the data section that
 * follows it, reading no tensor data. Refused with a FormatError naming the file and
 * the tensor: unknown dtypes, bad shapes, offsets outside the data, sizes that do not
 * match shape × dtype, overlapping tensors, bytes no tensor uses, duplicate names,
 * names that collide with JavaScript object properties, and a `__metadata__` that is
 * not an object of strings.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, dataBytes: number, source = 'safetensors data'): SafetensorsHeader {
  let text: string;
  let header: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    header = JSON.parse(text);
  } catch (error) {
    throw new FormatError(`${source}: header is not valid UTF-8 JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(header)) throw new FormatError(`${source}: header must be a JSON object`);
  const names = topLevelKeys(text);
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new FormatError(`${source}: the header names '${name}' more than once`);
    seen.add(name);
  }
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const name of names) {
    const entry = header[name];
    if (isPrototypeName(name)) {
      throw new FormatError(`${source}: the header entry name '${name}' is refused (it would collide with a JavaScript object property)`);
    }
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) throw new FormatError(`${source}: __metadata__ must be a JSON object mapping strings to strings, not ${JSON.stringify(entry)}`);
      for (const [key, value] of Object.entries(entry)) {
        if (typeof value !== 'string') throw new FormatError(`${source}: __metadata__['${key}'] is ${JSON.stringify(value)}; metadata values must be strings`);
        if (isPrototypeName(key)) throw new FormatError(`${source}: __metadata__ key '${key}' is refused (it would collide with a JavaScript object property)`);
        metadata[key] = value;
      }
      continue;
    }
    if (name === '') throw new FormatError(`${source}: a tensor has an empty name`);
    entries.push(parseEntry(name, entry, dataBytes, source));
  }
  // The tensors must tile the data section: no overlap (one buffer decoded many times), no gap, no trailing bytes.
  const spans = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let previous: SafetensorsEntry | undefined;
  for (const span of spans) {
    if (span.begin < at) throw new FormatError(`${source}: tensors '${previous!.name}' and '${span.name}' overlap (bytes ${span.begin}..${Math.min(at, span.end)} of the data section)`);
    if (span.begin > at) throw new FormatError(`${source}: bytes ${at}..${span.begin} of the data section belong to no tensor (before '${span.name}')`);
    at = span.end;
    previous = span;
  }
  if (at !== dataBytes) throw new FormatError(`${source}: the data section has ${dataBytes - at} bytes after the last tensor that belong to no tensor (${dataBytes} bytes, tensors end at ${at})`);
  return { entries, metadata };
}

function parseEntry(name: string, entry: unknown, dataBytes: number, source: string): SafetensorsEntry {
  const where = `${source}: tensor '${name}'`;
  if (!isPlainObject(entry)) throw new FormatError(`${where} must be an object {dtype, shape, data_offsets}, not ${JSON.stringify(entry)}`);
  const extra = Object.keys(entry).filter((k) => !(ENTRY_KEYS as readonly string[]).includes(k));
  if (extra.length) throw new FormatError(`${where} has unknown field(s) ${extra.join(', ')}; expected only dtype, shape and data_offsets`);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
    throw new FormatError(`${where} has dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(DTYPE_BYTES).join(', ')}`);
  }
  if (!Array.isArray(shape) || shape.length > MAX_RANK || shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) {
    throw new FormatError(`${where} has shape ${JSON.stringify(shape)}; expected an array of at most ${MAX_RANK} non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) || offsets[0] > offsets[1]) {
    throw new FormatError(`${where} has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] with 0 <= begin <= end`);
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataBytes) throw new FormatError(`${where} ends at byte ${end} of a ${dataBytes}-byte data section (truncated?)`);
  // Multiplied in BigInt: a shape such as [2**40, 2**40] must be refused, not overflow into a small number.
  const count = (shape as number[]).reduce((a, d) => a * BigInt(d), 1n);
  const needed = count * BigInt(DTYPE_BYTES[dtype]!);
  if (needed !== BigInt(end - begin)) {
    throw new FormatError(`${where} of shape [${(shape as number[]).join(', ')}] and dtype ${dtype} needs ${needed} bytes, but its offsets span ${end - begin}`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** Decodes one tensor's bytes (exactly `entry.end - entry.begin` of them) into a float32 or int32 tensor. */
export function decodeSafetensorsEntry(entry: SafetensorsEntry, bytes: Uint8Array, source = 'safetensors data'): tf.Tensor {
  const { dtype, name } = entry;
  const size = DTYPE_BYTES[dtype]!;
  if (bytes.byteLength !== entry.end - entry.begin) throw new FormatError(`${source}: tensor '${name}': got ${bytes.byteLength} bytes, expected ${entry.end - entry.begin}`);
  const count = bytes.byteLength / size;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const isFloat = dtype.startsWith('F') || dtype === 'BF16';
  const out = isFloat ? new Float32Array(count) : new Int32Array(count);
  switch (dtype) {
    case 'F32': for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true); break;
    case 'F64': for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true); break;
    case 'F16': for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true)); break;
    case 'BF16': {
      // bfloat16 is the upper half of a float32.
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      break;
    }
    case 'I64':
      for (let i = 0; i < count; i++) {
        const v = view.getBigInt64(i * 8, true);
        if (v > 2147483647n || v < -2147483648n) throw new FormatError(`${source}: tensor '${name}': int64 value ${v} does not fit in int32`);
        out[i] = Number(v);
      }
      break;
    case 'I32': for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true); break;
    case 'I16': for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, true); break;
    case 'I8': for (let i = 0; i < count; i++) out[i] = view.getInt8(i); break;
    default: for (let i = 0; i < count; i++) out[i] = view.getUint8(i); // U8, BOOL
  }
  return tf.tensor(out, entry.shape as number[], isFloat ? 'float32' : 'int32');
}

/** Reads and checks the 8-byte header length against the total size; returns N. */
export function readHeaderLength(prefix: Uint8Array, totalBytes: number, source: string): number {
  if (totalBytes < 8 || prefix.byteLength < 8) throw new FormatError(`${source}: ${totalBytes} bytes is too short for a safetensors file (needs an 8-byte header length)`);
  const headerLength = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) throw new FormatError(`${source}: header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(headerLength);
  if (8 + n > totalBytes) throw new FormatError(`${source}: header length ${n} runs past the end of the ${totalBytes}-byte file (truncated?)`);
  return n;
}

/** Decodes every tensor of a validated header, disposing what it made if one fails. */
export async function decodeEntries(header: SafetensorsHeader, read: (entry: SafetensorsEntry) => Uint8Array | Promise<Uint8Array>, source: string): Promise<Record<string, tf.Tensor>> {
  const tensors: Record<string, tf.Tensor> = {};
  try {
    for (const entry of header.entries) tensors[entry.name] = decodeSafetensorsEntry(entry, await read(entry), source);
  } catch (error) {
    tf.dispose(Object.values(tensors));
    throw error;
  }
  return tensors;
}

/** Parses a safetensors buffer. Every structural problem is refused with a FormatError before any tensor is made. */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): SafetensorsContent {
  const n = readHeaderLength(bytes, bytes.byteLength, source);
  const dataStart = 8 + n;
  const header = parseSafetensorsHeader(bytes.subarray(8, dataStart), bytes.byteLength - dataStart, source);
  const tensors: Record<string, tf.Tensor> = {};
  try {
    for (const e of header.entries) tensors[e.name] = decodeSafetensorsEntry(e, bytes.subarray(dataStart + e.begin, dataStart + e.end), source);
  } catch (error) {
    tf.dispose(Object.values(tensors));
    throw error;
  }
  return { tensors, metadata: header.metadata };
}

export function checkLive(tensors: Record<string, tf.Tensor>, names: readonly string[]): void {
  for (const name of names) {
    if (tensors[name]!.isDisposed) throw new InvalidArgumentError(`tensors['${name}']`, 'a disposed tensor', 'live tensors');
  }
}

const asFloat32 = (values: tf.TypedArray | string[] | Uint8Array[]): Float32Array =>
  values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);

/** Where each tensor's bytes go in the file: the header and its padding, then the data in key order. */
interface FileLayout {
  readonly bytes: Uint8Array;
  readonly dataStart: number;
  readonly offsets: readonly number[];
}

/** The header block of a safetensors file (length, JSON, padding) and where each tensor's data starts after it. */
export interface SafetensorsHeaderBlock {
  /** The first `dataStart` bytes of the file. */
  readonly bytes: Uint8Array;
  readonly dataStart: number;
  /** Offset of each tensor's data (of `names`, in order) from `dataStart`. */
  readonly offsets: readonly number[];
  readonly dataBytes: number;
}

/** Lays out F32 tensors `names` (in that order) after a header holding their dtypes, shapes, offsets and `metadata`. */
export function safetensorsHeader(tensors: Record<string, tf.Tensor>, names: readonly string[], metadata: Record<string, string>): SafetensorsHeaderBlock {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const offsets: number[] = [];
  let offset = 0;
  for (const name of names) {
    const byteLength = tensors[name]!.size * 4;
    header[name] = { dtype: 'F32', shape: tensors[name]!.shape, data_offsets: [offset, offset + byteLength] };
    offsets.push(offset);
    offset += byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // The data section starts 8-byte aligned, as the reference writer pads the header with spaces.
  const padding = (8 - ((8 + json.byteLength) % 8)) % 8;
  const headerLength = json.byteLength + padding;
  const bytes = new Uint8Array(8 + headerLength);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(headerLength), true);
  bytes.set(json, 8);
  bytes.fill(0x20, 8 + json.byteLength, 8 + headerLength);
  return { bytes, dataStart: 8 + headerLength, offsets, dataBytes: offset };
}

/**
 * The file, allocated once at its final size with the header written: the values are
 * then copied straight into it, one tensor at a time, so encoding holds the file plus
 * one tensor's values (not every tensor's values, a copy of each, and the file).
 */
function layOut(tensors: Record<string, tf.Tensor>, names: readonly string[], metadata: Record<string, string>): FileLayout {
  const head = safetensorsHeader(tensors, names, metadata);
  const bytes = new Uint8Array(head.dataStart + head.dataBytes);
  bytes.set(head.bytes, 0);
  return { bytes, dataStart: head.dataStart, offsets: head.offsets };
}

/** A tensor's values as little-endian F32 bytes (as every supported host stores them), without a copy when they already are float32. */
export function float32Bytes(values: tf.TypedArray | string[] | Uint8Array[]): Uint8Array {
  const v = asFloat32(values);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** Copies the i-th tensor's values (little-endian F32, as every supported host stores them) into the file. */
function putValues(layout: FileLayout, i: number, values: tf.TypedArray | string[] | Uint8Array[]): void {
  layout.bytes.set(float32Bytes(values), layout.dataStart + layout.offsets[i]!);
}

/** Serialises float tensors as F32 safetensors, keys sorted, data packed in key order. */
export function encodeSafetensors(tensors: Record<string, tf.Tensor>, metadata: Record<string, string> = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  checkLive(tensors, names);
  const layout = layOut(tensors, names, metadata);
  names.forEach((name, i) => putValues(layout, i, tensors[name]!.dataSync()));
  return layout.bytes;
}

/**
 * As encodeSafetensors, but reads values asynchronously, so it works on backends
 * without synchronous reads (webgpu in Node).
 */
export async function encodeSafetensorsAsync(tensors: Record<string, tf.Tensor>, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const names = Object.keys(tensors).sort();
  checkLive(tensors, names);
  const layout = layOut(tensors, names, metadata);
  for (let i = 0; i < names.length; i++) putValues(layout, i, await tensors[names[i]!]!.data());
  return layout.bytes;
}
