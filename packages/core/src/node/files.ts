import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { FormatError } from '../errors.js';
import { checkLive, decodeEntries, float32Bytes, parseSafetensorsHeader, readHeaderLength, safetensorsHeader, type SafetensorsContent } from '../io/safetensors.js';
import type { tf } from '../tensor/tf.js';

/**
 * Writes `bytes` to `path` atomically: a temporary file beside it, then a rename,
 * so a crash never leaves a half-written file under the final name.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  await writeAtomically(path, (handle) => handle.writeFile(bytes));
}

/**
 * Runs `write` on a new temporary file beside `path`, flushes it to disk and renames
 * it to `path`; on any error the temporary file is removed and `path` is untouched.
 */
async function writeAtomically(path: string, write: (handle: FileHandle) => Promise<void>): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(tmp, 'wx');
    try {
      await write(handle);
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

/** Writes all of `bytes` at the handle's position (a single write may stop short). */
async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.byteLength - written);
    written += bytesWritten;
  }
}

/**
 * Opens `path` for reading only if it is a regular file, and returns it with its size.
 * O_NONBLOCK keeps a named pipe from blocking the open; devices (`/dev/zero`),
 * pipes, sockets and directories are refused with the path named.
 */
export async function openRegularFile(path: string, what = 'file'): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new FormatError(`cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) {
      const kind = stats.isDirectory() ? 'a directory' : stats.isFIFO() ? 'a named pipe' : stats.isCharacterDevice() || stats.isBlockDevice() ? 'a device' : stats.isSocket() ? 'a socket' : 'not a regular file';
      throw new FormatError(`${path} is ${kind}; a ${what} must be a regular file`);
    }
    return { handle, size: stats.size };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** Reads exactly `length` bytes at `position`, or says the file is shorter than it was. */
export async function readRange(handle: FileHandle, position: number, length: number, path: string): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(out, filled, length - filled, position + filled);
    if (bytesRead === 0) throw new FormatError(`${path}: the file ended at byte ${position + filled} while reading ${length} bytes at ${position} (was it truncated while being read?)`);
    filled += bytesRead;
  }
  return out;
}

/**
 * Writes tensors as an F32 safetensors file (the bytes `encodeSafetensors` gives),
 * atomically. Each tensor's values are read (asynchronously, so this works on
 * backends without synchronous reads: webgpu in Node) and written in turn, so a
 * checkpoint of a wide model never holds the whole file in memory: DeiT-Base's
 * optimizer moments are a 685 MB file.
 */
export async function saveSafetensors(path: string, tensors: Record<string, tf.Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  const names = Object.keys(tensors).sort();
  checkLive(tensors, names);
  const head = safetensorsHeader(tensors, names, metadata);
  await writeAtomically(path, async (handle) => {
    await writeAll(handle, head.bytes);
    for (const name of names) await writeAll(handle, float32Bytes(await tensors[name]!.data()));
  });
}

/**
 * Loads a safetensors file reading only what its header describes: the header is
 * validated against the file size before any tensor data is read, and each tensor's
 * bytes are read on their own, so memory stays within a small multiple of the file size
 * whatever the header claims.
 */
export async function loadSafetensors(path: string): Promise<SafetensorsContent> {
  const { handle, size } = await openRegularFile(path, 'safetensors file');
  try {
    const headerLength = readHeaderLength(await readRange(handle, 0, Math.min(8, size), path), size, path);
    const dataStart = 8 + headerLength;
    const header = parseSafetensorsHeader(await readRange(handle, 8, headerLength, path), size - dataStart, path);
    const tensors = await decodeEntries(header, (e) => readRange(handle, dataStart + e.begin, e.end - e.begin, path), path);
    return { tensors, metadata: header.metadata };
  } finally {
    await handle.close();
  }
}
