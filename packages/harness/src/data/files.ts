import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FormatError } from '@tessera/core';

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Reads a file, gunzipping it when it starts with the gzip magic bytes (whatever its name). */
export async function readMaybeGzip(path: string): Promise<Uint8Array> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (cause) {
    throw new FormatError(`cannot read ${path}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
  if (!isGzip(raw)) return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  try {
    const out = gunzipSync(raw);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new FormatError(`${path} is a corrupt or truncated gzip file (${raw.byteLength} bytes): ${detail}`);
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
