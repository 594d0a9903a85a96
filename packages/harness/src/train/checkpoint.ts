import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FormatError, tf, type RngState } from '@tessera/core';
import { loadSafetensors, saveSafetensors, writeFileAtomic } from '@tessera/core/node';
import type { TrainConfig } from '../config.js';
import type { LoaderState } from '../data/index.js';

export const CHECKPOINT_FILE = 'checkpoint.json';
export const CHECKPOINT_DIR = 'checkpoints';

/** What checkpoint.json holds: everything but the tensors, which live in safetensors files beside it. */
export interface CheckpointState {
  readonly format: 'tessera-checkpoint';
  readonly version: 1;
  readonly step: number;
  /** Completed epochs. */
  readonly epoch: number;
  readonly config: TrainConfig;
  /** Paths relative to the run folder. */
  readonly files: { readonly model: string; readonly optimizer: string; readonly ema?: string };
  readonly rng: { readonly augment: RngState; readonly dropout: RngState };
  readonly loader: LoaderState;
  readonly trainSeconds: number;
  readonly savedAt: string;
}

export interface CheckpointTensors {
  readonly model: Record<string, tf.Tensor>;
  readonly optimizer: Record<string, tf.Tensor>;
  readonly ema?: Record<string, tf.Tensor>;
}

const stepName = (step: number) => `step-${String(step).padStart(8, '0')}`;

/**
 * Writes a checkpoint so that a crash at any moment leaves the previous one usable:
 * the tensor files go under new names first (each written atomically), then
 * checkpoint.json is swapped in atomically, and only then are older files removed.
 */
export async function saveCheckpoint(runDir: string, state: Omit<CheckpointState, 'files' | 'format' | 'version' | 'savedAt'>, tensors: CheckpointTensors): Promise<CheckpointState> {
  const dir = join(runDir, CHECKPOINT_DIR);
  await mkdir(dir, { recursive: true });
  const stem = stepName(state.step);
  const files = {
    model: `${CHECKPOINT_DIR}/${stem}.model.safetensors`,
    optimizer: `${CHECKPOINT_DIR}/${stem}.optimizer.safetensors`,
    ...(tensors.ema ? { ema: `${CHECKPOINT_DIR}/${stem}.ema.safetensors` } : {}),
  };
  const metadata = { format: 'tessera', step: String(state.step), epoch: String(state.epoch) };
  await saveSafetensors(join(runDir, files.model), tensors.model, metadata);
  await saveSafetensors(join(runDir, files.optimizer), tensors.optimizer, metadata);
  if (tensors.ema && files.ema) await saveSafetensors(join(runDir, files.ema), tensors.ema, metadata);
  const full: CheckpointState = { format: 'tessera-checkpoint', version: 1, ...state, files, savedAt: new Date().toISOString() };
  await writeFileAtomic(join(runDir, CHECKPOINT_FILE), `${JSON.stringify(full, null, 2)}\n`);
  const keep = new Set(Object.values(files).map((f) => basename(f)));
  for (const name of readdirSync(dir)) {
    if (!keep.has(name)) await rm(join(dir, name), { force: true });
  }
  return full;
}

/** Finds checkpoint.json from a run folder or the file itself. */
export function checkpointPath(runDirOrFile: string): string {
  if (existsSync(runDirOrFile) && statSync(runDirOrFile).isDirectory()) return join(runDirOrFile, CHECKPOINT_FILE);
  return runDirOrFile;
}

export async function readCheckpoint(runDirOrFile: string): Promise<{ state: CheckpointState; runDir: string }> {
  const path = checkpointPath(runDirOrFile);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new FormatError(`--resume ${runDirOrFile}: no checkpoint there (${(error as Error).message}); give a run folder written by tessera train or its checkpoint.json`);
  }
  let state: CheckpointState;
  try {
    state = JSON.parse(text) as CheckpointState;
  } catch (error) {
    throw new FormatError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  if (state?.format !== 'tessera-checkpoint' || state.version !== 1) {
    throw new FormatError(`${path}: not a tessera checkpoint (format ${JSON.stringify(state?.format)}, version ${JSON.stringify(state?.version)}; expected tessera-checkpoint version 1)`);
  }
  return { state, runDir: dirname(path) };
}

/** Loads one of the checkpoint's tensor files; the caller disposes the tensors. */
export async function loadCheckpointTensors(runDir: string, file: string): Promise<Record<string, tf.Tensor>> {
  return (await loadSafetensors(join(runDir, file))).tensors;
}
