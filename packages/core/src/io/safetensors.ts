import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { FormatError, InvalidArgumentError } from '../errors.js';
import { tf } from '../tensor/tf.js';

/**
 * safetensors (huggingface/safetensors): 8-byte little-endian header length N, N
 * bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`,
 * then the raw little-endian data. Written here as F32; read from F32, F64, F16,
 * BF16, I64, I32, I16, I8, U8 and BOOL, converted to float32 or int32 tensors.
 */

/** Headers larger than this are refused before any allocation (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface SafetensorsContent {
  readonly tensors: Record<string, tf.Tensor>;
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

function decodeValues(dtype: string, bytes: Uint8Array, count: number, name: string): Float32Array | Int32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = dtype.startsWith('F') || dtype === 'BF16' ? new Float32Array(count) : new Int32Array(count);
  for (let i = 0; i < count; i++) {
    switch (dtype) {
      case 'F32': out[i] = view.getFloat32(i * 4, true); break;
      case 'F64': out[i] = view.getFloat64(i * 8, true); break;
      case 'F16': out[i] = halfToFloat(view.getUint16(i * 2, true)); break;
      case 'BF16': {
        const scratch = new DataView(new ArrayBuffer(4));
        scratch.setUint32(0, view.getUint16(i * 2, true) << 16, true);
        out[i] = scratch.getFloat32(0, true);
        break;
      }
      case 'I64': {
        const v = view.getBigInt64(i * 8, true);
        if (v > 2147483647n || v < -2147483648n) throw new FormatError(`tensor '${name}': int64 value ${v} does not fit in int32`);
        out[i] = Number(v);
        break;
      }
      case 'I32': out[i] = view.getInt32(i * 4, true); break;
      case 'I16': out[i] = view.getInt16(i * 2, true); break;
      case 'I8': out[i] = view.getInt8(i); break;
      case 'U8': case 'BOOL': out[i] = view.getUint8(i); break;
      default: throw new FormatError(`tensor '${name}': dtype ${dtype} is not supported (supported: ${Object.keys(DTYPE_BYTES).join(', ')})`);
    }
  }
  return out;
}

/** Parses a safetensors buffer. Every structural problem is refused with a FormatError saying what and where. */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): SafetensorsContent {
  if (bytes.byteLength < 8) throw new FormatError(`${source}: ${bytes.byteLength} bytes is too short for a safetensors file (needs an 8-byte header length)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    throw new FormatError(`${source}: header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const n = Number(headerLength);
  if (8 + n > bytes.byteLength) throw new FormatError(`${source}: header length ${n} runs past the end of the ${bytes.byteLength}-byte file (truncated?)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (error) {
    throw new FormatError(`${source}: header is not valid UTF-8 JSON (${(error as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new FormatError(`${source}: header must be a JSON object`);
  const data = bytes.subarray(8 + n);
  const tensors: Record<string, tf.Tensor> = {};
  let metadata: Record<string, string> = {};
  const spans: Array<[number, number, string]> = [];
  try {
    for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (!entry || typeof entry !== 'object' || Object.values(entry).some((v) => typeof v !== 'string')) {
          throw new FormatError(`${source}: __metadata__ must map strings to strings`);
        }
        metadata = { ...(entry as Record<string, string>) };
        continue;
      }
      const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof e?.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) {
        throw new FormatError(`${source}: tensor '${name}' has dtype ${JSON.stringify(e?.dtype)}; supported: ${Object.keys(DTYPE_BYTES).join(', ')}`);
      }
      if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
        throw new FormatError(`${source}: tensor '${name}' has shape ${JSON.stringify(e.shape)}; expected an array of non-negative integers`);
      }
      const offsets = e.data_offsets;
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
        throw new FormatError(`${source}: tensor '${name}' has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] with 0 <= begin <= end`);
      }
      const [begin, end] = offsets as [number, number];
      const count = (e.shape as number[]).reduce((a, b) => a * b, 1);
      const expected = count * DTYPE_BYTES[e.dtype]!;
      if (end - begin !== expected) {
        throw new FormatError(`${source}: tensor '${name}' of shape [${(e.shape as number[]).join(', ')}] and dtype ${e.dtype} needs ${expected} bytes, but its offsets span ${end - begin}`);
      }
      if (end > data.byteLength) throw new FormatError(`${source}: tensor '${name}' ends at byte ${end} of a ${data.byteLength}-byte data section (truncated?)`);
      spans.push([begin, end, name]);
      const values = decodeValues(e.dtype, data.subarray(begin, end), count, name);
      tensors[name] = tf.tensor(values, e.shape as number[], values instanceof Float32Array ? 'float32' : 'int32');
    }
    spans.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) {
      if (spans[i]![0] < spans[i - 1]![1]) throw new FormatError(`${source}: tensors '${spans[i - 1]![2]}' and '${spans[i]![2]}' overlap`);
    }
  } catch (error) {
    tf.dispose(Object.values(tensors));
    throw error;
  }
  return { tensors, metadata };
}

/** Serialises float tensors as F32 safetensors, keys sorted, data packed in key order. */
export function encodeSafetensors(tensors: Record<string, tf.Tensor>, metadata: Record<string, string> = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    if (t.isDisposed) throw new InvalidArgumentError(`tensors['${name}']`, 'a disposed tensor', 'live tensors');
    const values = t.dtype === 'float32' ? (t.dataSync() as Float32Array) : Float32Array.from(t.dataSync());
    const bytes = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  // The data section starts 8-byte aligned, as the reference writer pads the header with spaces.
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

/**
 * Writes `bytes` to `path` atomically: a temporary file beside it, then a rename,
 * so a crash never leaves a half-written file under the final name.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, bytes);
    const handle = await open(tmp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

export async function saveSafetensors(path: string, tensors: Record<string, tf.Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export async function loadSafetensors(path: string): Promise<SafetensorsContent> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new FormatError(`cannot read ${path}: ${(error as Error).message}`);
  }
  return decodeSafetensors(bytes, path);
}
