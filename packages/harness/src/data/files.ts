import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { FormatError } from '@tessera/core';
import { openRegularFile, readRange } from '@tessera/core/node';

/**
 * Every data file is read through here: regular files only (a symlink to /dev/zero,
 * a named pipe or a directory is refused with its path), and never more bytes than
 * the caller needs, compressed or not.
 */

/** Reads a whole regular file of at most `maxBytes` bytes. */
export async function readFileBounded(path: string, maxBytes: number, what = 'data file'): Promise<Uint8Array> {
  const { handle, size } = await openRegularFile(path, what);
  try {
    if (size > maxBytes) throw new FormatError(`${path} has ${size} bytes; a ${what} may have at most ${maxBytes}`);
    return await readRange(handle, 0, size, path);
  } finally {
    await handle.close();
  }
}

/** The first bytes of a file (or of its gunzipped content), at most `limit`; `truncated` says there was more. */
export interface BoundedRead {
  readonly bytes: Uint8Array;
  readonly truncated: boolean;
}

function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    const take = Math.min(chunk.length, length - at);
    out.set(chunk.subarray(0, take), at);
    at += take;
    if (at === length) break;
  }
  return out;
}

/**
 * Reads a file, gunzipping it when it starts with the gzip magic bytes (whatever its
 * name), and stops after `limit` bytes of content: a gzip bomb costs what the caller
 * asked for, not what it inflates to.
 */
export async function readMaybeGzip(path: string, limit: number): Promise<BoundedRead> {
  const { handle, size } = await openRegularFile(path);
  try {
    const magic = await readRange(handle, 0, Math.min(2, size), path);
    const gzip = magic.length === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
    if (!gzip) return { bytes: await readRange(handle, 0, Math.min(size, limit), path), truncated: size > limit };
    const gunzip = createGunzip();
    const source = handle.createReadStream({ start: 0, autoClose: false });
    source.on('error', (error) => gunzip.destroy(error));
    source.pipe(gunzip);
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) {
        chunks.push(chunk);
        total += chunk.length;
        if (total > limit) break;
      }
    } catch (cause) {
      throw new FormatError(`${path} is a corrupt or truncated gzip file (${size} bytes): ${cause instanceof Error ? cause.message : String(cause)}`);
    } finally {
      source.unpipe(gunzip);
      source.destroy();
      gunzip.destroy();
    }
    return { bytes: concat(chunks, Math.min(total, limit)), truncated: total > limit };
  } finally {
    await handle.close();
  }
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export async function listDirectory(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch (cause) {
    throw new FormatError(`cannot list directory ${path}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/**
 * The first file in `dir` whose name is `stem` followed by one of `suffixes`, or by
 * `.<anything>` and then one of them (e.g. `data_batch_1.first4000.bin.gz`).
 */
export function findByStem(names: readonly string[], dir: string, stem: string, suffixes: readonly string[]): string | undefined {
  for (const suffix of suffixes) {
    if (names.includes(stem + suffix)) return join(dir, stem + suffix);
  }
  for (const name of names) {
    if (!name.startsWith(`${stem}.`)) continue;
    if (suffixes.some((suffix) => suffix !== '' && name.endsWith(suffix))) return join(dir, name);
  }
  return undefined;
}
