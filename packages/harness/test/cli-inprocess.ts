import { vi } from 'vitest';
import { runCli } from '../src/commands.js';
import type { CliRun } from './helpers.js';

export interface InProcessRun {
  readonly code: number;
  readonly out: string[];
  /** What the command reported (its error lines) and what commander printed. */
  readonly err: string;
  /** The last stdout line parsed as JSON. */
  json<T = Record<string, unknown>>(): T;
}

/** Runs `tessera <args>` in this process (fast: one backend, one plugin registry), capturing its output. */
export async function cli(args: readonly string[]): Promise<InProcessRun> {
  const out: string[] = [];
  const err: string[] = [];
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err.push(String(chunk));
    return true;
  });
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(...String(chunk).replace(/\n$/, '').split('\n'));
    return true;
  });
  let code: number;
  try {
    code = await runCli(['node', 'tessera', ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
  } finally {
    stderr.mockRestore();
    stdout.mockRestore();
  }
  return {
    code,
    out,
    err: err.join('\n'),
    json<T>() {
      return JSON.parse(out[out.length - 1]!) as T;
    },
  };
}

/**
 * `cli` in the shape of helpers.ts's `tessera` (status, stdout, stderr, json), for tests
 * that assert on a command's outcome and not on a separate process: each spawned
 * `tessera` re-imports tfjs and every plugin (about a second, more under load).
 */
export async function tesseraInProcess(args: readonly string[]): Promise<CliRun> {
  const run = await cli(args);
  return { status: run.code, stdout: run.out.join('\n'), stderr: run.err, json: () => run.json() };
}
