import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { FormatError, tf, z, type RngState } from '@tessera/core';
import { loadSafetensors, saveSafetensors, writeFileAtomic } from '@tessera/core/node';
import { trainConfigSchema, type TrainConfig } from '../config.js';
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
  readonly files: CheckpointFiles;
  readonly rng: { readonly augment: RngState; readonly dropout: RngState };
  readonly loader: LoaderState;
  readonly trainSeconds: number;
  readonly savedAt: string;
}

export interface CheckpointFiles {
  readonly model: string;
  readonly optimizer: string;
  readonly ema?: string;
}

export interface CheckpointTensors {
  readonly model: Record<string, tf.Tensor>;
  readonly optimizer: Record<string, tf.Tensor>;
  readonly ema?: Record<string, tf.Tensor>;
}

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const rngState = z.object({ algorithm: z.literal('xoroshiro128plus'), state: z.array(z.number().int()).min(1).max(64) }).strict();
/** A path inside the run folder: relative, no `..`, no absolute path (checked again against the folder on use). */
const runFile = z
  .string()
  .min(1)
  .refine((p) => !isAbsolute(p) && !p.split(/[\\/]/).includes('..'), { message: 'must be a path inside the run folder' });

/** checkpoint.json as a schema: a file that does not match is refused, naming the field. */
const checkpointSchema = z
  .object({
    format: z.literal('tessera-checkpoint'),
    version: z.literal(1),
    step: count,
    epoch: count,
    config: trainConfigSchema,
    files: z.object({ model: runFile, optimizer: runFile, ema: runFile.optional() }).strict(),
    rng: z.object({ augment: rngState, dropout: rngState }).strict(),
    loader: z.object({ epoch: count, position: count, rng: rngState }).strict(),
    trainSeconds: z.number().finite().min(0),
    savedAt: z.string(),
  })
  .strict();

const stepName = (step: number) => `step-${String(step).padStart(8, '0')}`;

/** The absolute path of a checkpoint file, refused if it leaves the run folder (a symlinked run folder is fine). */
export function runFilePath(runDir: string, file: string, source: string): string {
  const root = resolve(runDir);
  const path = resolve(root, file);
  const rel = relative(root, path);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    throw new FormatError(`${source}: file ${JSON.stringify(file)} is outside the run folder ${root}`);
  }
  return path;
}

/**
 * Writes a checkpoint so that a crash at any moment leaves the previous one usable:
 * the tensor files go under new names first (each written atomically), then
 * checkpoint.json is swapped in atomically, and only then are the files of `previous`
 * (the checkpoint this run wrote or resumed from) removed. Nothing else in the
 * folder is ever deleted.
 */
export async function saveCheckpoint(
  runDir: string,
  state: Omit<CheckpointState, 'files' | 'format' | 'version' | 'savedAt'>,
  tensors: CheckpointTensors,
  previous?: CheckpointFiles,
): Promise<CheckpointState> {
  const dir = join(runDir, CHECKPOINT_DIR);
  await mkdir(dir, { recursive: true });
  const stem = stepName(state.step);
  const files: CheckpointFiles = {
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
  const keep = new Set(Object.values(files));
  for (const file of Object.values(previous ?? {})) {
    if (!keep.has(file)) await rm(runFilePath(runDir, file, CHECKPOINT_FILE), { force: true });
  }
  return full;
}

/** Finds checkpoint.json from a run folder or the file itself. */
export function checkpointPath(runDirOrFile: string): string {
  if (existsSync(runDirOrFile) && statSync(runDirOrFile).isDirectory()) return join(runDirOrFile, CHECKPOINT_FILE);
  return runDirOrFile;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('').replace(/^\./, '');
  return `${path || '(top level)'}: ${issue.message}`;
}

/** Reads and validates checkpoint.json (schema, and files confined to the run folder). */
export async function readCheckpoint(runDirOrFile: string, flag = '--resume'): Promise<{ state: CheckpointState; runDir: string }> {
  const path = resolve(checkpointPath(runDirOrFile));
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new FormatError(`${flag} ${runDirOrFile}: no checkpoint there (${(error as Error).message}); give a run folder written by tessera train or its checkpoint.json`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new FormatError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  const head = raw as { format?: unknown; version?: unknown } | null;
  if (head?.format !== 'tessera-checkpoint' || head.version !== 1) {
    throw new FormatError(`${path}: not a tessera checkpoint (format ${JSON.stringify(head?.format)}, version ${JSON.stringify(head?.version)}; expected tessera-checkpoint version 1)`);
  }
  const parsed = checkpointSchema.safeParse(raw);
  if (!parsed.success) throw new FormatError(`${path} is damaged or was edited: ${parsed.error.issues.slice(0, 5).map(describeIssue).join('; ')}`);
  const runDir = dirname(path);
  for (const file of Object.values(parsed.data.files)) runFilePath(runDir, file, path);
  return { state: parsed.data as CheckpointState, runDir };
}

/** Loads one of the checkpoint's tensor files; the caller disposes the tensors. */
export async function loadCheckpointTensors(runDir: string, file: string): Promise<Record<string, tf.Tensor>> {
  return loadWeights(runFilePath(runDir, file, CHECKPOINT_FILE));
}

/** Read asynchronously: webgpu in Node has no synchronous readback (`tessera eval --backend webgpu`). */
async function allFinite(t: tf.Tensor): Promise<boolean> {
  const flag = tf.tidy(() => tf.all(tf.isFinite(t)));
  try {
    return (await flag.data())[0] === 1;
  } finally {
    flag.dispose();
  }
}

/**
 * Loads a weights file and refuses non-finite values, naming the file and the tensor:
 * a NaN weight would only surface later as a NaN loss reported as a result.
 */
export async function loadWeights(path: string): Promise<Record<string, tf.Tensor>> {
  const { tensors } = await loadSafetensors(path);
  let bad: [string, tf.Tensor] | undefined;
  for (const entry of Object.entries(tensors)) {
    if (entry[1].dtype === 'float32' && !(await allFinite(entry[1]))) {
      bad = entry;
      break;
    }
  }
  if (bad) {
    tf.dispose(Object.values(tensors));
    throw new FormatError(`${path}: tensor '${bad[0]}' holds NaN or infinite values; these weights are damaged (from a diverged run?)`);
  }
  return tensors;
}

