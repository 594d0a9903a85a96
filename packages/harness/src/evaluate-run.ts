import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { buildWithWeights, getBackend, InvalidArgumentError, setBackend, StateDictError, tf, TesseraError, type BackendChoice, type VisionModel } from '@tessera/core';
import { writeFileAtomic } from '@tessera/core/node';
import { checkDatasetSize, openDataset, type ImageDataset } from './data/index.js';
import { describeEnvironment } from './environment.js';
import { evaluate } from './evaluate.js';
import { evaluatePatchSizes, resolvePatchSizes, type PatchSizeMetrics } from './flexible.js';
import { evalWorkerCount, withEvalReplicas, workersApply, type ReplicaBuild } from './parallel/parallel-eval.js';
import { writeReport } from './report/report.js';
import type { TrainConfig } from './config.js';
import { readMetrics, type TrainResult } from './train/trainer.js';
import { buildModel, defaultImgSize, estimateModel, footprintOf, resolveModelRef, type ModelRef } from './model.js';
import { loadPlugins } from './plugins.js';
import { checkModelFits } from './resources.js';
import { loadCheckpointTensors, loadWeights, readCheckpoint, runFilePath } from './train/checkpoint.js';

/** An evaluation whose loss is NaN or infinite: reported as a failure, never as a result. */
export class NonFiniteResultError extends TesseraError {}

/**
 * Builds the model with these weights in place, without drawing the initial values
 * they replace, naming the file in any mismatch (missing or extra keys, shapes,
 * integer dtypes).
 */
function buildLoaded(build: () => VisionModel, tensors: Record<string, tf.Tensor>, file: string): VisionModel {
  try {
    return buildWithWeights(build, tensors);
  } catch (error) {
    if (error instanceof StateDictError) throw new StateDictError(`${file}: ${error.message}`);
    throw error;
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

export interface EvalOptions {
  /** A run folder, its checkpoint.json, or a weights .safetensors file (then --model is needed). */
  readonly checkpoint?: string;
  readonly model?: string;
  readonly data?: string;
  readonly imgSize?: number;
  readonly batchSize?: number;
  readonly testSize?: number;
  readonly backend?: BackendChoice;
  readonly plugins?: readonly string[];
  /** Evaluate the checkpoint's EMA weights instead of the trained ones. */
  readonly ema?: boolean;
  readonly seed?: number;
  /** Also evaluate at each of these patch sizes (`true`: the defaults for the image size). */
  readonly patchSizes?: readonly number[] | true;
  /** Worker threads, each with a replica of the model, that split every batch on wasm/cpu (default 1: this thread). */
  readonly workers?: number;
  /** Notes for the user (stderr in the CLI), e.g. that --workers does not apply to the backend. */
  readonly info?: (line: string) => void;
}

export interface EvalResult {
  readonly top1: number;
  readonly top5: number;
  readonly loss: number;
  readonly images: number;
  readonly imagesPerSecond: number;
  readonly runDir: string | null;
  readonly model: string;
  readonly data: string;
  readonly backend: string;
  /** What ran the matrix products: `tfjs`, or the native matmul with its threads (as in a training run's result). */
  readonly matmul: string;
  /** Worker threads that evaluated (each a replica of the model); 1: this thread alone. */
  readonly workers: number;
  readonly weights: string;
  readonly patchSizes?: readonly PatchSizeMetrics[];
}

/** Where `tessera eval --patch-sizes` leaves its numbers in a run folder (the report draws them). */
export const PATCH_SIZE_EVAL_FILE = 'eval-patch-sizes.json';

/** A trained model ready to evaluate, and the test split it was configured for. */
export interface LoadedEvaluation {
  readonly model: VisionModel;
  readonly dataset: ImageDataset;
  /** The dataset spec in use (--data, else the run's). */
  readonly data: string;
  readonly seed: number;
  readonly runDir: string | null;
  /** Absolute path of the weights file, or 'random initialisation'. */
  readonly weights: string;
  readonly testSize?: number;
  /** What a worker thread needs to rebuild the model (with these weights) as an evaluation replica. */
  readonly replica: ReplicaBuild;
}

/**
 * The backend, plugins, model and weights of `tessera eval` (and `tessera robustness`):
 * a run folder or its checkpoint.json supplies model, data, input size and seed unless
 * overridden; a .safetensors file needs --model. The caller disposes `model`.
 */
export async function loadEvaluation(options: EvalOptions): Promise<LoadedEvaluation> {
  const checkpoint = options.checkpoint;
  // Checked first: a missing checkpoint is the problem, not the --model it would have supplied.
  if (checkpoint !== undefined && !existsSync(checkpoint)) {
    throw new InvalidArgumentError('--checkpoint', checkpoint, 'an existing run folder, checkpoint.json or .safetensors file (nothing is there)');
  }
  await setBackend(options.backend ?? 'auto');
  await loadPlugins(options.plugins ?? []);
  const isRun = checkpoint !== undefined && (statSync(checkpoint).isDirectory() || checkpoint.endsWith('.json'));
  const run = isRun ? await readCheckpoint(checkpoint, '--checkpoint') : undefined;
  let ref: ModelRef;
  if (options.model) ref = await resolveModelRef(options.model);
  else if (run) ref = run.state.config.model;
  else throw new InvalidArgumentError('--model', undefined, 'a model name or spec file (or --checkpoint with a run folder, whose model is used)');
  const data = options.data ?? run?.state.config.data ?? 'synthetic';
  const imgSize = options.imgSize ?? run?.state.config.imgSize ?? defaultImgSize(ref);
  const seed = options.seed ?? run?.state.config.seed ?? 0;
  const testSize = options.testSize ?? run?.state.config.testSize;
  // The spec, the memory an evaluation batch needs and the split's size are checked before any data or tensor.
  const fits = { backend: getBackend(), evalBatchSize: options.batchSize ?? 128, what: `${ref.name} at ${imgSize}x${imgSize}` };
  estimateModel(ref, { imgSize, seed, inChannels: /^(mnist|fashion-mnist):/.test(data) ? 1 : 3 }, fits);
  checkDatasetSize(data, { split: 'test', imgSize, ...(testSize ? { size: testSize } : {}) }, '--test-size');
  const dataset = await openDataset(data, { split: 'test', imgSize, seed, ...(testSize ? { size: testSize } : {}) });
  const build = () => buildModel(ref, { numClasses: dataset.numClasses, imgSize, inChannels: dataset.channels, seed });
  let weights = 'random initialisation';
  let model: VisionModel;
  if (run) {
    const file = options.ema ? run.state.files.ema : run.state.files.model;
    if (!file) throw new InvalidArgumentError('--ema', true, 'a run trained with --ema (this checkpoint has no EMA weights)');
    weights = runFilePath(run.runDir, file, resolve(run.runDir, 'checkpoint.json'));
    model = buildLoaded(build, await loadCheckpointTensors(run.runDir, file), weights);
  } else if (checkpoint) {
    weights = resolve(checkpoint);
    model = buildLoaded(build, await loadWeights(weights), weights);
  } else {
    model = build();
  }
  try {
    checkModelFits(footprintOf(model), fits);
    const replica: ReplicaBuild = { ref, plugins: options.plugins ?? [], imgSize, inChannels: dataset.channels };
    return { model, dataset, data, seed, runDir: run?.runDir ?? null, weights, ...(testSize ? { testSize } : {}), replica };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** Refuses a worker count that is not an integer from 1 to 1024 (the training config's bound), naming --workers. */
export function checkWorkers(workers: number | undefined): void {
  if (workers !== undefined && (!Number.isInteger(workers) || workers < 1 || workers > 1024)) {
    throw new InvalidArgumentError('--workers', workers, 'an integer from 1 to 1024 (worker threads, each with a replica of the model)');
  }
}

/** `tessera eval`: top-1, top-5 and loss of a trained run (or weights file) on a dataset's test split. */
export async function evaluateRun(options: EvalOptions): Promise<EvalResult> {
  checkWorkers(options.workers);
  const { model, dataset, data, runDir, weights, replica } = await loadEvaluation(options);
  const batchSize = options.batchSize ?? 128;
  const workers = evalWorkerCount(options.workers ?? 1, batchSize);
  if (!workersApply() && (options.workers ?? 1) > 1) options.info?.(`--workers applies to the wasm and cpu backends; ${getBackend()} evaluates in one thread`);
  try {
    return await withEvalReplicas(workers, model, replica, async (replicas) => {
      const metrics = await evaluate(model, dataset, batchSize, undefined, replicas);
      if (!Number.isFinite(metrics.loss)) {
        throw new NonFiniteResultError(`evaluating ${weights} on ${data} gave a loss of ${metrics.loss} (top-1 ${metrics.top1}); the weights or the data are damaged, so this is not a result`);
      }
      let perPatchSize: PatchSizeMetrics[] | undefined;
      if (options.patchSizes) {
        const { sizes, stages } = resolvePatchSizes(model, options.patchSizes === true ? true : [...options.patchSizes], model.config.inputSize[0]);
        perPatchSize = await evaluatePatchSizes(model, dataset, batchSize, sizes, stages, replicas);
        const broken = perPatchSize.find((m) => !Number.isFinite(m.loss));
        if (broken) throw new NonFiniteResultError(`evaluating ${weights} on ${data} at patch size ${broken.patchSize} gave a loss of ${broken.loss}; this is not a result`);
        if (runDir) await recordPatchSizes(runDir, perPatchSize);
      }
      return {
        ...(perPatchSize ? { patchSizes: perPatchSize } : {}),
        top1: metrics.top1,
        top5: metrics.top5,
        loss: metrics.loss,
        images: metrics.images,
        imagesPerSecond: metrics.imagesPerSecond,
        runDir,
        model: model.config.name,
        data,
        ...(({ backend, matmul }) => ({ backend, matmul }))(describeEnvironment(workers)),
        workers,
        weights,
      };
    });
  } finally {
    model.dispose();
  }
}

/** Saves per-patch-size results in the run folder and redraws its report with the accuracy-vs-patch-size chart. */
async function recordPatchSizes(runDir: string, results: readonly PatchSizeMetrics[]): Promise<void> {
  await writeFileAtomic(join(runDir, PATCH_SIZE_EVAL_FILE), `${JSON.stringify(results, null, 2)}\n`);
  const resultPath = join(runDir, 'result.json');
  const configPath = join(runDir, 'config.json');
  // An interrupted run has no result.json and no report yet; the numbers are still saved.
  if (!existsSync(resultPath) || !existsSync(configPath)) return;
  const result = JSON.parse(await readFile(resultPath, 'utf8')) as TrainResult;
  const config = JSON.parse(await readFile(configPath, 'utf8')) as TrainConfig;
  await writeReport(runDir, { config, result: { ...result, patchSizes: results }, environment: describeEnvironment(), metrics: await readMetrics(runDir) });
}
