import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError, TesseraError } from '@tessera/core';

/** A run folder that may not be written: it holds something the user did not ask to replace. */
export class RunFolderError extends TesseraError {}

/** What a folder holds, as far as a new run writing into it is concerned. */
export type FolderState =
  | { kind: 'missing' }
  | { kind: 'empty' }
  | { kind: 'run'; finished: boolean; step?: number }
  | { kind: 'other'; entries: string[] };

/** Reads a folder: missing, empty, a Tessera run (checkpoint.json of format tessera-checkpoint, or config.json with metrics.jsonl), or something else. */
export function inspectFolder(dir: string): FolderState {
  if (!existsSync(dir)) return { kind: 'missing' };
  const entries = readdirSync(dir);
  if (entries.length === 0) return { kind: 'empty' };
  let step: number | undefined;
  let isRun = entries.includes('config.json') && entries.includes('metrics.jsonl');
  if (entries.includes('checkpoint.json')) {
    try {
      const state = JSON.parse(readFileSync(resolve(dir, 'checkpoint.json'), 'utf8')) as { format?: unknown; step?: unknown };
      if (state.format === 'tessera-checkpoint') {
        isRun = true;
        if (typeof state.step === 'number') step = state.step;
      }
    } catch {
      // An unreadable checkpoint.json is still a user's file: treated as 'other' unless the rest says run.
    }
  }
  if (isRun) return { kind: 'run', finished: entries.includes('result.json'), ...(step !== undefined ? { step } : {}) };
  return { kind: 'other', entries: entries.sort() };
}

/**
 * mkdir -p without Node's recursive mkdir, which loops forever under /proc
 * (`--out /proc/x`): each missing level is made on its own, so a refusal is an error.
 */
export function makeDirectories(dir: string, flag = '--out'): void {
  const missing: string[] = [];
  let at = resolve(dir);
  while (!existsSync(at)) {
    missing.push(at);
    const parent = dirname(at);
    if (parent === at) break;
    at = parent;
  }
  if (existsSync(at) && !statSync(at).isDirectory()) throw new InvalidArgumentError(flag, dir, `a folder path, but ${at} is a file`);
  for (const path of missing.reverse()) {
    try {
      mkdirSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && statSync(path).isDirectory()) continue;
      throw new InvalidArgumentError(flag, dir, `a folder that can be created (${(error as Error).message})`);
    }
  }
}

/**
 * Checks `--out` before any data or model is built, and creates it. A new run may
 * write into a missing or empty folder; a folder holding another run (finished or
 * not) or anything else is refused unless `overwrite` is set. `resuming` is the folder
 * of the run being continued, which may of course be written.
 */
export function prepareRunFolder(out: string, options: { overwrite?: boolean; resuming?: string } = {}): string {
  if (typeof out !== 'string' || out.trim() === '') throw new InvalidArgumentError('--out', out, 'a folder path (an empty one would write the run into the current directory)');
  const dir = resolve(out);
  if (existsSync(dir) && !lstatSync(dir).isDirectory() && !statSync(dir).isDirectory()) {
    throw new InvalidArgumentError('--out', out, `a folder, but ${dir} is a file`);
  }
  if (options.resuming !== undefined && resolve(options.resuming) === dir) return dir;
  const state = inspectFolder(dir);
  if (!options.overwrite) {
    if (state.kind === 'run') {
      throw new RunFolderError(
        `--out ${dir} already holds a Tessera run${state.step !== undefined ? ` (last checkpoint at step ${state.step}${state.finished ? ', with a result' : ''})` : ''}. ` +
          `Continue it with --resume ${dir}, choose another --out, or pass --overwrite to write a new run over it.`,
      );
    }
    if (state.kind === 'other') {
      const shown = state.entries.slice(0, 5).join(', ') + (state.entries.length > 5 ? `, … (${state.entries.length} entries)` : '');
      throw new RunFolderError(`--out ${dir} is not empty and is not a Tessera run (it holds ${shown}). Choose a new or empty folder, or pass --overwrite to write the run into it (files the run did not write are never deleted).`);
    }
  }
  makeDirectories(dir);
  return dir;
}
