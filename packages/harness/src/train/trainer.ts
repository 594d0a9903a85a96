import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildWithWeights, chainAugmentations, FormatError, getBackend, InvalidArgumentError, oneHot, type Augmentation, Rng, setBackend, softTargetCrossEntropy, tf, TesseraError, type VisionModel } from '@tessera/core';
import { writeFileAtomic } from '@tessera/core/node';
import { buildAugmentation, checkAugmentations } from '../augment.js';
import { trainConfigSchema, type TrainConfig } from '../config.js';
import { BatchLoader, checkDatasetSize, openDataset, type ImageDataset, type LoaderOptions } from '../data/index.js';
import { describeEnvironment } from '../environment.js';
import { evaluate, inputOptions, withOverrides, type EvalMetrics } from '../evaluate.js';
import { evaluatePatchSizes, patchSizeOverrides, resolvePatchSizes, type PatchSizeMetrics } from '../flexible.js';
import { buildModel, estimateModel, footprintOf } from '../model.js';
import { describePlugins, loadPlugins, type LoadedPlugin } from '../plugins.js';
import { DataParallel } from '../parallel/data-parallel.js';
import { createReporter, type Reporter } from '../progress.js';
import { writeReport } from '../report/report.js';
import { checkModelFits } from '../resources.js';
import { AdamW, clipGradNorm, clipToNorm } from './optimizer.js';
import { loadCheckpointTensors, readCheckpoint, saveCheckpoint, type CheckpointFiles, type CheckpointState } from './checkpoint.js';
import { prepareRunFolder } from './run-folder.js';
import { WeightEma } from './ema.js';
import { cosineLr } from './schedule.js';
import { klToTargets } from './distill.js';
import { drawPatchSize } from './patch-sizes.js';
import { initStudentFromTeacher, loadTeacher, type Teacher } from './teacher.js';

/** The result of a run, printed as the last stdout line with --json. */
export interface TrainResult {
  readonly top1: number;
  readonly top5: number;
  readonly loss: number;
  readonly trainLoss: number;
  readonly emaTop1?: number;
  /** Training throughput of this session (optimizer steps only, evaluation excluded). */
  readonly imagesPerSecond: number;
  readonly evalImagesPerSecond: number;
  readonly steps: number;
  readonly epochs: number;
  readonly runDir: string;
  readonly checkpoint: string;
  readonly report: string;
  readonly model: string;
  readonly params: number;
  readonly backend: string;
  /** What ran the matrix products: `tfjs`, or the native matmul (see describeMatMul). */
  readonly matmul: string;
  /** Worker threads that trained and evaluated (data-parallel replicas); 1: this thread alone (also off wasm/cpu). */
  readonly workers: number;
  readonly seconds: number;
  /** With --patch-sizes: the final evaluation at every training patch size. */
  readonly patchSizes?: readonly PatchSizeMetrics[];
  /** The plugins this run loaded, with where each came from. */
  readonly plugins: readonly string[];
}

/** A training step produced a loss or gradient that is not a finite number. */
export class NonFiniteLossError extends TesseraError {
  constructor(
    message: string,
    readonly runDir: string,
    readonly lastCheckpointStep: number | undefined,
  ) {
    super(message);
  }
}

export interface TrainIO {
  readonly reporter?: Reporter;
  /** Allow `out` to be a folder that holds another run or other files (never deleted). */
  readonly overwrite?: boolean;
  /** Validate everything (config, run folder, data, model, memory) and stop before training. */
  readonly dryRun?: boolean;
}

/** One line of metrics.jsonl. */
export type MetricsLine =
  | { type: 'train'; epoch: number; step: number; loss: number; lr: number; gradNorm: number; imagesPerSecond: number; patchSize?: number }
  | { type: 'eval'; epoch: number; step: number; top1: number; top5: number; loss: number; emaTop1?: number; emaTop5?: number };

/**
 * Reads metrics.jsonl. A torn last line (the process died while appending it) is
 * dropped, with `warn` told which file; a damaged line before the last is an error
 * naming the file and the line.
 */
export async function readMetrics(runDir: string, warn?: (message: string) => void): Promise<MetricsLine[]> {
  const path = join(runDir, 'metrics.jsonl');
  if (!existsSync(path)) return [];
  const lines = (await readFile(path, 'utf8')).split('\n');
  const out: MetricsLine[] = [];
  let last = lines.length - 1;
  while (last >= 0 && lines[last]!.trim() === '') last--;
  for (let i = 0; i <= last; i++) {
    const line = lines[i]!;
    if (!line.trim()) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    const valid = parsed !== null && typeof parsed === 'object' && typeof (parsed as MetricsLine).step === 'number' && ((parsed as MetricsLine).type === 'train' || (parsed as MetricsLine).type === 'eval');
    if (valid) {
      out.push(parsed as MetricsLine);
      continue;
    }
    if (i === last) {
      warn?.(`${path}: the last line (${i + 1}) is torn or damaged (${JSON.stringify(line.slice(0, 60))}); dropping it`);
      continue;
    }
    throw new FormatError(`${path}: line ${i + 1} is not a metrics record (${JSON.stringify(line.slice(0, 60))}); fix or delete that line`);
  }
  return out;
}

interface Session {
  config: TrainConfig;
  runDir: string;
  model: VisionModel;
  train: ImageDataset;
  test: ImageDataset;
  loaderOptions: LoaderOptions;
  /** Resolved --patch-sizes and the stages they override. */
  flexible?: { sizes: number[]; stages: string[] };
  teacher?: Teacher;
  plugins: readonly LoadedPlugin[];
}

const flagOf = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Validates a TrainConfig (from flags, code or a checkpoint), naming the flag of a bad field. */
export function validateTrainConfig(config: unknown): TrainConfig {
  const out = (config as { out?: unknown } | null)?.out;
  if (typeof out === 'string' && out.trim() === '') throw new InvalidArgumentError('--out', out, 'a folder path (an empty one would write the run into the current directory)');
  const parsed = trainConfigSchema.safeParse(config);
  if (parsed.success) return parsed.data as TrainConfig;
  const issue = parsed.error.issues[0]!;
  const key = String(issue.path[0] ?? 'config');
  const value = issue.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k as PropertyKey], config);
  if (key === 'minLr' && issue.message.includes('exceed')) {
    const c = config as TrainConfig;
    throw new InvalidArgumentError('--min-lr', c.minLr, `a rate <= --lr (${c.lr}); the cosine schedule decays from --lr down to --min-lr`);
  }
  throw new InvalidArgumentError(flagOf(key) + (issue.path.length > 1 ? ` (${issue.path.slice(1).join('.')})` : ''), value, issue.message);
}

async function openData(config: TrainConfig): Promise<{ train: ImageDataset; test: ImageDataset }> {
  const common = { imgSize: config.imgSize, seed: config.seed };
  checkDatasetSize(config.data, { split: 'train', imgSize: config.imgSize, ...(config.trainSize ? { size: config.trainSize } : {}) }, '--train-size');
  checkDatasetSize(config.data, { split: 'test', imgSize: config.imgSize, ...(config.testSize ? { size: config.testSize } : {}) }, '--test-size');
  const train = await openDataset(config.data, { split: 'train', ...common, ...(config.trainSize ? { size: config.trainSize } : {}) });
  const test = await openDataset(config.data, { split: 'test', ...common, ...(config.testSize ? { size: config.testSize } : {}) });
  return { train, test };
}

/**
 * Trains a model as DeiT does (AdamW, warmup + cosine, label smoothing, optional
 * Mixup/CutMix/TransMix, drop path, EMA, gradient clipping), checkpointing each
 * epoch. With `resume`, continues from a checkpoint to the same numbers an
 * uninterrupted run produces. `overrides` (resume only) replace saved settings.
 */
/** Everything a run checks and opens before it makes a tensor. */
export interface PreparedRun {
  readonly config: TrainConfig;
  readonly runDir: string;
  /** This run made the folder (so it may remove it again while it is empty). */
  readonly runDirIsNew: boolean;
  readonly resumed?: { state: CheckpointState; runDir: string };
  readonly plugins: readonly LoadedPlugin[];
  readonly train: ImageDataset;
  readonly test: ImageDataset;
  /** Lower bounds of the memory a step and an evaluation need, when known before building. */
  readonly estimate?: ReturnType<typeof checkModelFits>;
}

/**
 * Validates a run without making a tensor: the config (every flag), the run folder
 * (refusing to write over another run or a user's files), the plugins, the model spec
 * (strict, before data), the memory the model and data need against the backend's
 * limit, and the data files. `tessera train --dry-run` stops here.
 */
export async function prepareTraining(configOrResume: TrainConfig | { resume: string; overrides?: Partial<TrainConfig> }, io: TrainIO = {}): Promise<PreparedRun> {
  const reporter = io.reporter ?? createReporter({ quiet: true });
  let resumed: { state: CheckpointState; runDir: string } | undefined;
  let config: TrainConfig;
  if ('resume' in configOrResume) {
    resumed = await readCheckpoint(configOrResume.resume);
    // --steps is a stop for one invocation, not part of the recipe: a resumed run goes on to the end unless given again.
    const { steps: _previousStop, ...saved } = resumed.state.config;
    config = validateTrainConfig({ ...saved, ...configOrResume.overrides });
  } else {
    config = validateTrainConfig(configOrResume);
  }
  const writeTo = resumed && !('resume' in configOrResume && configOrResume.overrides?.out) ? resumed.runDir : config.out;

  await setBackend(config.backend);
  const plugins = await loadPlugins(config.plugins, { warn: (m) => warnUser(reporter, m) });
  // What the plugins define (augmentations, the model spec) is validated before the run folder is made.
  checkAugmentations(config.augment, config.smoothing);
  // A teacher that is not a run is refused now; its model is built with the student's.
  if (config.teacher) await readCheckpoint(config.teacher, '--teacher');
  const dataChannels = /^(mnist|fashion-mnist):/.test(config.data) ? 1 : 3;
  const overrides = { imgSize: config.imgSize, inChannels: dataChannels, dropPathRate: config.dropPath > 0 ? config.dropPath : undefined, seed: config.seed };
  // The spec and the memory a step and an evaluation need are checked before the run folder, the data or the model exist.
  const fits = { backend: getBackend(), batchSize: config.batchSize, evalBatchSize: config.evalBatchSize, what: `${config.model.name} at ${config.imgSize}x${config.imgSize}` };
  const estimate = estimateModel(config.model, overrides, fits);
  // The run folder is checked (and made) before any data or model exists.
  const isNew = !existsSync(writeTo);
  const runDir = io.dryRun ? writeTo : prepareRunFolder(writeTo, { overwrite: io.overwrite, ...(resumed ? { resuming: resumed.runDir } : {}) });
  config = { ...config, out: runDir };
  let data: Awaited<ReturnType<typeof openData>>;
  try {
    data = await openData(config);
  } catch (error) {
    if (isNew && !io.dryRun) removeIfEmpty(runDir);
    throw error;
  }
  return { config, runDir, runDirIsNew: isNew && !io.dryRun, ...(resumed ? { resumed } : {}), plugins, train: data.train, test: data.test, estimate };
}

function warnUser(reporter: Reporter, message: string): void {
  if (reporter.warn) reporter.warn(message);
  else reporter.info(`warning: ${message}`);
}

/** A run refused before it wrote anything leaves no folder behind: the one it made is removed while it is still empty. */
function removeIfEmpty(dir: string): void {
  try {
    if (readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    // Best effort: the refusal is what the user needs to see.
  }
}

export async function train(configOrResume: TrainConfig | { resume: string; overrides?: Partial<TrainConfig> }, io: TrainIO = {}): Promise<TrainResult> {
  const reporter = io.reporter ?? createReporter({ quiet: true });
  const prepared = await prepareTraining(configOrResume, { ...io, reporter });
  const { runDir, resumed, plugins, train: trainSet, test: testSet } = prepared;
  let config = prepared.config;
  const fits = { backend: getBackend(), batchSize: config.batchSize, evalBatchSize: config.evalBatchSize, what: `${config.model.name} at ${config.imgSize}x${config.imgSize}` };
  const build = () =>
    buildModel(config.model, {
      numClasses: trainSet.numClasses,
      imgSize: config.imgSize,
      inChannels: trainSet.channels,
      dropPathRate: config.dropPath > 0 ? config.dropPath : undefined,
      seed: config.seed,
    });
  let model: VisionModel;
  try {
    // A resumed run's weights replace every initial value: none is drawn.
    model = resumed ? await buildResumedModel(build, resumed) : build();
  } catch (error) {
    if (prepared.runDirIsNew) removeIfEmpty(runDir);
    throw error;
  }
  let flexible: Session['flexible'];
  let teacher: Teacher | undefined;
  try {
    checkModelFits(footprintOf(model), fits);
    if (config.patchSizes) {
      flexible = resolvePatchSizes(model, config.patchSizes, model.config.inputSize[0]);
      // Saved resolved, so a resumed run replays the same list (and, with the seed, the same draws).
      config = { ...config, patchSizes: flexible.sizes };
    }
    if (config.teacher) {
      const loaderInput = inputOptions(model, trainSet);
      teacher = await loadTeacher(config.teacher, { numClasses: trainSet.numClasses, inChannels: trainSet.channels, mean: loaderInput.mean, std: loaderInput.std });
      if (!resumed) {
        const { loaded, skipped } = initStudentFromTeacher(model, teacher.model);
        reporter.info(`student initialised from teacher ${teacher.runDir}: ${loaded.length} tensors${skipped.length ? `, kept initialisation for ${skipped.join(', ')}` : ''}`);
      }
    }
  } catch (error) {
    teacher?.model.dispose();
    model.dispose();
    if (prepared.runDirIsNew) removeIfEmpty(runDir);
    throw error;
  }
  const session: Session = {
    ...(flexible ? { flexible } : {}),
    ...(teacher ? { teacher } : {}),
    config,
    runDir,
    model,
    train: trainSet,
    test: testSet,
    plugins,
    loaderOptions: {
      batchSize: config.batchSize,
      shuffle: true,
      rng: new Rng(config.seed).fork(),
      dropLast: true,
      ...inputOptions(model, trainSet),
      ...(config.cropPadding > 0 ? { randomCrop: { padding: config.cropPadding } } : {}),
      randomFlip: config.flip,
    },
  };
  try {
    return await runSession(session, resumed, reporter);
  } finally {
    model.dispose();
    teacher?.model.dispose();
  }
}

/** The model of a resumed run with the checkpoint's weights in place (train() builds it; runSession loads the rest of the state). */
async function buildResumedModel(build: () => VisionModel, resumed: { state: CheckpointState; runDir: string }): Promise<VisionModel> {
  const weights = await loadCheckpointTensors(resumed.runDir, resumed.state.files.model);
  try {
    return buildWithWeights(build, weights);
  } finally {
    tf.dispose(Object.values(weights));
  }
}

async function runSession(session: Session, resumed: { state: CheckpointState; runDir: string } | undefined, reporter: Reporter): Promise<TrainResult> {
  const resume = resumed?.state;
  const sourceDir = resumed?.runDir ?? session.runDir;
  const { config, runDir, model } = session;
  const started = performance.now();
  const built = buildAugmentation(config.augment, model, config.smoothing);
  // Distillation is the last post-forward step: its targets are the teacher's probabilities on the final (mixed) images.
  const teacherStep = session.teacher?.step;
  const augmentation: Augmentation | undefined = teacherStep ? (built ? chainAugmentations([built.augmentation, teacherStep]) : teacherStep) : built?.augmentation;
  const wantedOutputs = augmentation?.requiresOutputs ?? [];
  const params = model.namedParameters().filter(([, p]) => p.trainable);
  const variables = params.map(([, p]) => p.variable);
  const optimizer = new AdamW(params, { weightDecay: config.weightDecay });
  const ema = config.ema !== undefined ? new WeightEma(model, config.ema) : undefined;
  // Replicas live on their own wasm (or cpu) instances; a GPU or native backend already uses the whole device.
  const threadedBackend = ['wasm', 'cpu'].includes(getBackend());
  const workerCount = threadedBackend ? Math.min(config.workers ?? 1, config.batchSize) : 1;
  const seeds = new Rng(config.seed ^ 0x5eed);
  let augmentRng = seeds.fork();
  let dropoutRng = seeds.fork();
  let loader: BatchLoader;
  let step = 0;
  let epoch = 0;
  let lastCheckpoint: number | undefined;
  // The checkpoint files this run may delete once a newer checkpoint is in place: only its own.
  let ownFiles: CheckpointFiles | undefined = resume && sourceDir === runDir ? resume.files : undefined;
  const warn = (message: string) => warnUser(reporter, message);

  const metricsPath = join(runDir, 'metrics.jsonl');
  if (resume) {
    const moments = await loadCheckpointTensors(sourceDir, resume.files.optimizer);
    optimizer.loadStateTensors(moments, resume.step);
    tf.dispose(Object.values(moments));
    if (ema && resume.files.ema) {
      const shadow = await loadCheckpointTensors(sourceDir, resume.files.ema);
      ema.load(shadow);
      tf.dispose(Object.values(shadow));
    }
    augmentRng = Rng.fromState(resume.rng.augment);
    dropoutRng = Rng.fromState(resume.rng.dropout);
    loader = BatchLoader.restore(session.train, session.loaderOptions, resume.loader);
    step = resume.step;
    epoch = resume.epoch;
    lastCheckpoint = resume.step;
    // Lines written after the checkpoint (a crash or a stop) would be repeated by this run.
    const kept = (await readMetrics(sourceDir, warn)).filter((m) => m.step <= resume.step);
    await writeFileAtomic(metricsPath, kept.map((m) => JSON.stringify(m)).join('\n') + (kept.length ? '\n' : ''));
    reporter.info(`resuming ${sourceDir} at step ${step} (epoch ${epoch})${sourceDir === runDir ? '' : `, writing to ${runDir}`}`);
  } else {
    loader = new BatchLoader(session.train, session.loaderOptions);
    await writeFile(metricsPath, '');
  }
  await writeFileAtomic(join(runDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);

  const stepsPerEpoch = loader.batchesPerEpoch;
  if (stepsPerEpoch < 1) {
    throw new TesseraError(`--batch-size ${config.batchSize} is larger than the ${session.train.length} training examples of ${config.data}; lower it`);
  }
  const totalSteps = config.epochs * stepsPerEpoch;
  const stopAt = Math.min(totalSteps, config.steps ?? totalSteps);
  const schedule = { lr: config.lr, minLr: config.minLr, warmupSteps: Math.round(config.warmupEpochs * stepsPerEpoch), totalSteps };
  // Started after a resume has loaded the weights and moments (and a teacher initialised the student): the replicas copy them.
  const parallel = workerCount > 1 ? await DataParallel.start({ count: workerCount, config, model, optimizer, inChannels: session.train.channels }) : undefined;
  if (parallel) reporter.info(`data-parallel training and evaluation on ${workerCount} worker threads`);
  else if (!threadedBackend && (config.workers ?? 1) > 1) reporter.info(`--workers applies to the wasm and cpu backends; ${getBackend()} trains in one thread`);
  const numClasses = model.config.numClasses;

  const checkpoint = async () => {
    const saved = await saveCheckpoint(
      runDir,
      {
        step,
        epoch,
        config,
        rng: { augment: augmentRng.getState(), dropout: dropoutRng.getState() },
        loader: loader.getState(),
        trainSeconds: (performance.now() - started) / 1000,
      },
      { model: model.stateDict(), optimizer: optimizer.stateTensors(), ...(ema ? { ema: ema.shadow } : {}) },
      ownFiles,
    );
    ownFiles = saved.files;
    lastCheckpoint = step;
    return saved;
  };
  const log = (line: MetricsLine) => appendFile(metricsPath, `${JSON.stringify(line)}\n`);
  const diverged = (what: string, lr: number, atStep: number) => {
    reporter.stop();
    const kept = lastCheckpoint === undefined ? 'No checkpoint had been written yet.' : `The last good checkpoint (step ${lastCheckpoint}) in ${runDir} is intact.`;
    return new NonFiniteLossError(
      `training diverged at step ${atStep} (epoch ${epoch + 1}, learning rate ${lr.toExponential(3)}): ${what}. ${kept} Lower --lr (now ${config.lr}), add --clip-grad or more --warmup-epochs, then --resume.`,
      runDir,
      lastCheckpoint,
    );
  };
  // Checked before every evaluation is logged and before every checkpoint: poisoned weights are never saved.
  const evaluateNow = async (): Promise<EvalMetrics & { emaTop1?: number; emaTop5?: number }> => {
    const metrics = await evaluate(model, session.test, config.evalBatchSize, undefined, parallel?.evalReplicas);
    if (!Number.isFinite(metrics.loss)) throw diverged(`the evaluation loss after it is ${metrics.loss}; these weights were not saved`, cosineLr(Math.max(0, step - 1), schedule), step);
    if (!ema) return metrics;
    const averaged = await ema.withWeights(() => evaluate(model, session.test, config.evalBatchSize, undefined, parallel?.evalReplicas));
    return { ...metrics, emaTop1: averaged.top1, emaTop5: averaged.top5 };
  };
  /** Σw² over every trainable weight in float32: infinite when any weight is non-finite or beyond ~1e19, which no trained network holds. */
  // Read asynchronously: webgpu in Node has no synchronous readback.
  const weightSumOfSquares = async (): Promise<number> => {
    const sum = tf.tidy(() => tf.addN(variables.map((v) => tf.sum(tf.square(v)))));
    const value = (await sum.data())[0]!;
    sum.dispose();
    return value;
  };

  let trainImages = 0;
  let trainMs = 0;
  let lastLoss = Number.NaN;
  let lastEval: (EvalMetrics & { emaTop1?: number; emaTop5?: number }) | undefined;
  let perPatchSize: PatchSizeMetrics[] | undefined;
  const trainStep = async (images: tf.Tensor4D, labels: Int32Array, lr: number, patchSize: number | undefined): Promise<{ loss: number; gradNorm: number }> => {
    const overrides = patchSize !== undefined ? patchSizeOverrides(session.flexible!.stages, patchSize) : undefined;
    const targets = oneHot(labels, numClasses, built?.smoothsLabels ? 0 : config.smoothing);
    const input = { images, targets };
    const augParams = augmentation?.sample(labels.length, augmentRng);
    const mixed = augmentation ? augmentation.apply(input, augParams) : input;
    if (parallel) {
      let computed: Awaited<ReturnType<DataParallel['computeGradients']>>;
      try {
        const afterForward = augmentation?.afterForward;
        computed = await parallel.computeGradients({
          images: mixed.images as tf.Tensor4D,
          targets: mixed.targets,
          outputs: wantedOutputs,
          rng: dropoutRng,
          loss: teacherStep ? 'kl' : 'cross-entropy',
          ...(overrides ? { overrides } : {}),
          // The post-forward chain (TransMix, the teacher) runs here on the whole batch, with every worker's outputs.
          ...(afterForward ? { afterForward: (outputs) => afterForward.call(augmentation, input, augParams, outputs, mixed.targets) } : {}),
        });
      } finally {
        for (const t of [targets, mixed.images, mixed.targets]) if (t !== images && !t.isDisposed) t.dispose();
      }
      let grads = computed.grads;
      try {
        if (!Number.isFinite(computed.loss) || !Number.isFinite(computed.norm)) return { loss: computed.loss, gradNorm: computed.norm };
        // The workers update while this thread does: the replicas' updates overlap rather than follow one another.
        parallel.apply(lr, config.clipGrad, computed.present, computed.norm);
        grads = clipToNorm(grads, computed.norm, config.clipGrad);
        optimizer.apply(grads, lr);
      } finally {
        tf.dispose(Object.values(grads));
      }
      ema?.update();
      return { loss: computed.loss, gradNorm: computed.norm };
    }
    const { value, grads } = tf.variableGrads(() => {
      const outputs = model.forward(mixed.images, withOverrides({ training: true, rng: dropoutRng, outputs: wantedOutputs }, overrides));
      // afterForward rebuilds targets from the batch apply received (the unmixed labels); post-forward steps chain from the mixed targets.
      const finalTargets = augmentation?.afterForward ? augmentation.afterForward(input, augParams, outputs, mixed.targets) : mixed.targets;
      // Distilling, the loss is KL(teacher ‖ student): the soft-target cross-entropy's gradient, read as a distance.
      return teacherStep ? klToTargets(finalTargets, outputs.logits) : softTargetCrossEntropy(outputs.logits, finalTargets);
    }, variables);
    for (const t of [targets, mixed.images, mixed.targets]) if (t !== images && !t.isDisposed) t.dispose();
    const lossValue = (await value.data())[0]!;
    value.dispose();
    const clipped = await clipGradNorm(grads, config.clipGrad);
    try {
      if (!Number.isFinite(lossValue) || !Number.isFinite(clipped.norm)) return { loss: lossValue, gradNorm: clipped.norm };
      optimizer.apply(clipped.grads, lr);
    } finally {
      tf.dispose(Object.values(clipped.grads));
    }
    ema?.update();
    return { loss: lossValue, gradNorm: clipped.norm };
  };
  const endEpoch = async () => {
    loader.nextEpoch();
    epoch += 1;
    reporter.stop();
    lastEval = await evaluateNow();
    await log({ type: 'eval', epoch, step, top1: lastEval.top1, top5: lastEval.top5, loss: lastEval.loss, ...(ema ? { emaTop1: lastEval.emaTop1, emaTop5: lastEval.emaTop5 } : {}) });
    reporter.info(`epoch ${epoch}/${config.epochs}: val top1 ${(lastEval.top1 * 100).toFixed(2)}% top5 ${(lastEval.top5 * 100).toFixed(2)}% loss ${lastEval.loss.toFixed(4)}`);
    await checkpoint();
    if (step < stopAt) reporter.start('train', stopAt, step);
  };
  reporter.start('train', stopAt, step);
  try {
    while (step < stopAt) {
      const batch = loader.next();
      if (!batch) {
        await endEpoch();
        continue;
      }
      const t0 = performance.now();
      const lr = cosineLr(step, schedule);
      const { images, labels } = batch;
      let loss: number;
      let gradNorm: number;
      // One patch size for the whole batch, from (seed, step) alone: a resumed run draws the same sequence.
      const patchSize = session.flexible ? drawPatchSize(session.flexible.sizes, config.seed, step) : undefined;
      try {
        const result = await trainStep(images, labels, lr, patchSize);
        loss = result.loss;
        gradNorm = result.gradNorm;
      } finally {
        images.dispose();
      }
      if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
        throw diverged(`${Number.isFinite(loss) ? `the gradient norm is ${gradNorm}` : `the loss is ${loss}`}; nothing from this step was applied`, lr, step + 1);
      }
      // A finite loss and gradient can still make an update that overflows the weights (--lr 1e30): never go on from it.
      const sumOfSquares = await weightSumOfSquares();
      if (!Number.isFinite(sumOfSquares)) throw diverged(`its update made the weights overflow (their sum of squares is ${sumOfSquares}); these weights were not saved`, lr, step + 1);
      step += 1;
      const ms = performance.now() - t0;
      trainMs += ms;
      trainImages += labels.length;
      lastLoss = loss;
      const imagesPerSecond = (labels.length / ms) * 1000;
      await log({ type: 'train', epoch: epoch + 1, step, loss, lr, gradNorm, imagesPerSecond, ...(patchSize !== undefined ? { patchSize } : {}) });
      reporter.tick(step, { loss, imagesPerSecond });
      if (step === (epoch + 1) * stepsPerEpoch) await endEpoch();
    }
    reporter.stop();
    // A --steps stop mid-epoch still evaluates and checkpoints, so it can be resumed and compared.
    if (lastCheckpoint !== step) {
      lastEval = await evaluateNow();
      await log({ type: 'eval', epoch, step, top1: lastEval.top1, top5: lastEval.top5, loss: lastEval.loss, ...(ema ? { emaTop1: lastEval.emaTop1, emaTop5: lastEval.emaTop5 } : {}) });
      await checkpoint();
    }
    lastEval ??= await evaluateNow();
    if (session.flexible) {
      perPatchSize = await evaluatePatchSizes(model, session.test, config.evalBatchSize, session.flexible.sizes, session.flexible.stages, parallel?.evalReplicas);
      for (const m of perPatchSize) reporter.info(`patch ${m.patchSize} (${m.tokens} tokens): val top1 ${(m.top1 * 100).toFixed(2)}%, ${m.imagesPerSecond.toFixed(1)} img/s`);
    }
  } finally {
    reporter.stop();
    await parallel?.close();
    optimizer.dispose();
    ema?.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  const environment = describeEnvironment(parallel ? workerCount : 1);
  const result: TrainResult = {
    top1: lastEval.top1,
    top5: lastEval.top5,
    loss: lastEval.loss,
    trainLoss: lastLoss,
    ...(lastEval.emaTop1 !== undefined ? { emaTop1: lastEval.emaTop1 } : {}),
    imagesPerSecond: trainMs > 0 ? (trainImages / trainMs) * 1000 : 0,
    evalImagesPerSecond: lastEval.imagesPerSecond,
    steps: step,
    epochs: epoch,
    runDir,
    checkpoint: join(runDir, 'checkpoint.json'),
    report: join(runDir, 'report.html'),
    model: model.config.name,
    params: model.numParameters(),
    backend: environment.backend,
    matmul: environment.matmul,
    workers: parallel ? workerCount : 1,
    seconds,
    ...(perPatchSize ? { patchSizes: perPatchSize } : {}),
    plugins: describePlugins(session.plugins),
  };
  await writeFileAtomic(join(runDir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  await writeReport(runDir, { config, result, environment, metrics: await readMetrics(runDir, warn) });
  return result;
}
