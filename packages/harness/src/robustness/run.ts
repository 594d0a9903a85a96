import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FormatError, getBackend, InvalidArgumentError, type BackendChoice } from '@tessera/core';
import { writeFileAtomic } from '@tessera/core/node';
import type { ImageDataset } from '../data/index.js';
import { describeEnvironment } from '../environment.js';
import { evaluate } from '../evaluate.js';
import { checkWorkers, loadEvaluation } from '../evaluate-run.js';
import { evalWorkerCount, withEvalReplicas, workersApply } from '../parallel/parallel-eval.js';
import { ALL_CORRUPTIONS, COMMON_CORRUPTIONS, type CorruptionName } from './corruptions/index.js';
import { Cifar10C, CorruptedDataset, corruptPixels, passSeed, subsetIndices, SubsetDataset } from './datasets.js';
import { imageSeed } from './corruptions/index.js';
import { computeMetrics, type ErrorTable, type RobustnessMetrics } from './metrics.js';
import type { TableName } from './params.js';
import { encodePng, renderRobustnessReport } from './report.js';

export const ROBUSTNESS_JSON = 'robustness.json';
export const ROBUSTNESS_HTML = 'robustness.html';

export interface RobustnessOptions {
  /** A run folder, its checkpoint.json, or a .safetensors file (then `model` is needed). */
  readonly checkpoint?: string;
  readonly model?: string;
  /** The clean test data (default: the run's), or `cifar10c:<dir>` for the released CIFAR-10-C files. */
  readonly data?: string;
  /** With `cifar10c:<dir>`: the clean CIFAR-10 test set (default: the run's data). */
  readonly cleanData?: string;
  readonly imgSize?: number;
  readonly batchSize?: number;
  readonly backend?: BackendChoice;
  readonly plugins?: readonly string[];
  readonly ema?: boolean;
  readonly corruptions?: readonly CorruptionName[];
  readonly severities?: readonly number[];
  /** A robustness.json (or the folder holding one) whose errors normalise CE. */
  readonly baseline?: string;
  /** Evaluate a seeded subset of this many test images. */
  readonly limit?: number;
  /** Seed of the subset and of the corruptions' random draws. */
  readonly seed?: number;
  /** Force a severity table (default: CIFAR-10-C at 32 px or less, ImageNet-C above). */
  readonly table?: TableName;
  readonly out?: string;
  /** Worker threads, each with a replica of the model, that split every batch on wasm/cpu (default 1: this thread). */
  readonly workers?: number;
  /** Progress lines (stderr in the CLI). */
  readonly log?: (line: string) => void;
}

export interface RobustnessResult {
  readonly format: 'tessera-robustness';
  readonly version: 1;
  /** What the corrupted images are: the released files, or "ImageNet-C-style" corruptions computed by Tessera. */
  readonly source: string;
  readonly model: string;
  readonly weights: string;
  readonly runDir: string | null;
  readonly data: string;
  readonly table: TableName;
  readonly imgSize: number;
  readonly images: number;
  readonly limit: number | null;
  readonly seed: number;
  readonly corruptions: readonly CorruptionName[];
  readonly severities: readonly number[];
  readonly clean: { readonly top1: number; readonly error: number };
  /** Top-1 error per corruption per severity: everything the metrics are computed from. */
  readonly errors: Record<string, Record<number, number>>;
  readonly baseline: { readonly source: string; readonly model: string; readonly cleanError: number; readonly errors: ErrorTable['errors'] } | 'alexnet' | null;
  readonly metrics: RobustnessMetrics;
  readonly imagesPerSecond: number;
  readonly seconds: number;
  readonly backend: string;
  /** Worker threads that evaluated (each a replica of the model); 1: this thread alone. */
  readonly workers: number;
  readonly outDir: string;
  readonly createdAt: string;
}

function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Reads a baseline: a robustness.json, or a folder that holds one. */
export function readBaseline(path: string): { source: string; model: string; table: ErrorTable } {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, ROBUSTNESS_JSON) : path;
  if (!existsSync(file)) throw new InvalidArgumentError('--baseline', path, `a ${ROBUSTNESS_JSON} from an earlier tessera robustness run, or the folder holding one`);
  let parsed: Partial<RobustnessResult>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<RobustnessResult>;
  } catch (error) {
    throw new FormatError(`--baseline ${file}: not JSON (${(error as Error).message})`);
  }
  if (parsed?.format !== 'tessera-robustness' || !parsed.clean || !parsed.errors) throw new FormatError(`--baseline ${file}: not a tessera robustness result (no format 'tessera-robustness' with clean and errors)`);
  return { source: resolve(file), model: String(parsed.model), table: { cleanError: parsed.clean.error, errors: parsed.errors } };
}

function defaultOutDir(runDir: string | null, model: string): string {
  if (runDir) return join(runDir, 'robustness');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/Z$/, '');
  return resolve('runs', `${model.replace(/[^A-Za-z0-9_-]+/g, '_').slice(-40)}-robustness-${stamp}`);
}

/** Refuses to write into a folder that holds other things than an earlier robustness result. */
function checkOutDir(out: string): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw new InvalidArgumentError('--out', out, 'a folder to write robustness.json and robustness.html into (this is a file)');
  const entries = readdirSync(out);
  const ours = new Set([ROBUSTNESS_JSON, ROBUSTNESS_HTML]);
  if (entries.length && !entries.some((e) => ours.has(e))) throw new InvalidArgumentError('--out', out, 'a new or empty folder, or one with an earlier robustness result (this one holds other files)');
}

/**
 * `tessera robustness`: clean top-1 and top-1 under each corruption and severity,
 * CE/mCE/relative mCE, mean corruption accuracy and retention; writes
 * robustness.json and robustness.html to the output folder.
 */
export async function runRobustness(options: RobustnessOptions): Promise<RobustnessResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const corruptions = options.corruptions ?? ALL_CORRUPTIONS;
  const severities = options.severities ?? [1, 2, 3, 4, 5];
  if (!corruptions.length) throw new InvalidArgumentError('--corruptions', '', 'at least one corruption');
  if (!severities.length || severities.some((s) => !Number.isInteger(s) || s < 1 || s > 5)) throw new InvalidArgumentError('--severities', severities.join(','), 'severities from 1 to 5');
  if (options.limit !== undefined && (!Number.isInteger(options.limit) || options.limit < 1)) throw new InvalidArgumentError('--limit', options.limit, 'an integer >= 1');
  checkWorkers(options.workers);
  const seed = options.seed ?? 0;
  const released = options.data?.startsWith('cifar10c:') ? new Cifar10C(resolve(options.data.slice('cifar10c:'.length))) : undefined;
  const baseline = options.baseline ? readBaseline(options.baseline) : undefined;
  if (options.out) checkOutDir(resolve(options.out));

  const loaded = await loadEvaluation({
    ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
    ...(options.model ? { model: options.model } : {}),
    ...((released ? options.cleanData : options.data) ? { data: released ? options.cleanData : options.data } : {}),
    ...(options.imgSize ? { imgSize: options.imgSize } : {}),
    ...(options.backend ? { backend: options.backend } : {}),
    plugins: options.plugins ?? [],
    ...(options.ema ? { ema: true } : {}),
  });
  const { model, dataset: clean } = loaded;
  try {
    if (released && (clean.name !== 'cifar10' || clean.length > 10_000)) {
      throw new InvalidArgumentError('--clean-data', loaded.data, 'the CIFAR-10 test set (cifar10:<dir>) for the clean accuracy beside cifar10c:<dir> (or a run trained on it)');
    }
    const [imgSize] = model.config.inputSize;
    const table: TableName = released ? 'cifar' : (options.table ?? (Math.max(clean.height, clean.width) <= 32 ? 'cifar' : 'imagenet'));
    const indices = subsetIndices(clean.length, options.limit, seed);
    const subset = new SubsetDataset(clean, indices);
    const batchSize = options.batchSize ?? 128;
    const out = resolve(options.out ?? defaultOutDir(loaded.runDir, model.config.name));
    checkOutDir(out);
    const source = released
      ? `CIFAR-10-C (released files in ${released.dir})`
      : `ImageNet-C-style corruptions computed by Tessera (${table === 'cifar' ? 'CIFAR-10-C' : 'ImageNet-C'} severity table; not bit-identical to the released datasets)`;
    const workers = evalWorkerCount(options.workers ?? 1, batchSize);
    if (!workersApply() && (options.workers ?? 1) > 1) log(`--workers applies to the wasm and cpu backends; ${getBackend()} evaluates in one thread`);
    log(
      `robustness: ${model.config.name} on ${subset.length} ${loaded.data} test images, ${corruptions.length} corruptions × ${severities.length} severities${workers > 1 ? ` on ${workers} worker threads` : ''}; ${source}`,
    );
    // One set of replicas for the clean pass and every corruption × severity.
    return await withEvalReplicas(workers, model, loaded.replica, async (replicas) => {
      const cleanMetrics = await evaluate(model, subset, batchSize, undefined, replicas);
      log(`clean top-1 ${(cleanMetrics.top1 * 100).toFixed(2)}%`);
      const errors: Record<string, Record<number, number>> = {};
      const passes = corruptions.length * severities.length;
      let done = 0;
      let images = cleanMetrics.images;
      const passStart = performance.now();
      const corrupted = (c: CorruptionName, s: number): ImageDataset =>
        released ? released.dataset(c, s, indices, clean.classNames) : new CorruptedDataset(subset, c, s, { seed, ...(options.table ? { table } : {}), sourceIndex: (i) => indices[i]! });
      for (const c of corruptions) {
        errors[c] = {};
        for (const s of severities) {
          const m = await evaluate(model, corrupted(c, s), batchSize, undefined, replicas);
          errors[c][s] = 1 - m.top1;
          images += m.images;
          done += 1;
          const elapsed = (performance.now() - passStart) / 1000;
          log(`[${done}/${passes}] ${c} severity ${s}: top-1 ${(m.top1 * 100).toFixed(2)}%  ${m.imagesPerSecond.toFixed(0)} img/s (corrupt + predict)  ETA ${formatEta((elapsed / done) * (passes - done))}`);
        }
      }
      const table2: ErrorTable = { cleanError: 1 - cleanMetrics.top1, errors };
      const useAlexNet = !baseline && !released && table === 'imagenet' && severities.length === 5 && corruptions.some((c) => (COMMON_CORRUPTIONS as readonly string[]).includes(c));
      const metrics = computeMetrics(table2, baseline ? baseline.table : useAlexNet ? 'alexnet' : undefined);
      const seconds = (performance.now() - started) / 1000;

      // One example per corruption and severity: the first evaluated image, corrupted exactly as the model saw it.
      const exampleBase = subset.example(0).pixels;
      const examples: Record<string, Record<number, string>> = {};
      for (const c of corruptions) {
        examples[c] = {};
        for (const s of severities) {
          const pixels = released ? released.dataset(c, s, indices.subarray(0, 1), clean.classNames).example(0).pixels : corruptPixels(exampleBase, clean.height, clean.width, clean.channels, c, s, imageSeed(passSeed(seed, c, s), indices[0]!), options.table ? table : undefined);
          const h = released ? 32 : clean.height;
          const w = released ? 32 : clean.width;
          examples[c][s] = encodePng(pixels, h, w, released ? 3 : clean.channels);
        }
      }
      const environment = describeEnvironment(workers);
      const result: RobustnessResult = {
        format: 'tessera-robustness',
        version: 1,
        source,
        model: model.config.name,
        weights: loaded.weights,
        runDir: loaded.runDir,
        data: options.data ?? loaded.data,
        table,
        imgSize,
        images: subset.length,
        limit: options.limit ?? null,
        seed,
        corruptions: [...corruptions],
        severities: [...severities],
        clean: { top1: cleanMetrics.top1, error: 1 - cleanMetrics.top1 },
        errors,
        baseline: baseline ? { source: baseline.source, model: baseline.model, cleanError: baseline.table.cleanError, errors: baseline.table.errors } : useAlexNet ? 'alexnet' : null,
        metrics,
        imagesPerSecond: images / ((performance.now() - passStart) / 1000 + cleanMetrics.images / Math.max(cleanMetrics.imagesPerSecond, 1e-9)),
        seconds,
        backend: environment.backend,
        workers,
        outDir: out,
        createdAt: new Date().toISOString(),
      };
      await mkdir(out, { recursive: true });
      await writeFileAtomic(join(out, ROBUSTNESS_JSON), `${JSON.stringify(result, null, 2)}\n`);
      await writeFileAtomic(join(out, ROBUSTNESS_HTML), await renderRobustnessReport(result, { examples, original: encodePng(exampleBase, clean.height, clean.width, clean.channels), environment }));
      return result;
    });
  } finally {
    model.dispose();
  }
}
