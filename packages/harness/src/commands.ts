import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError as FlagError, Option } from 'commander';
import { BACKENDS, getBackend, InvalidArgumentError, registry, setBackend, TesseraError, withoutInitialValues, type BackendChoice } from '@tessera/core';
import { writeFileAtomic } from '@tessera/core/node';
import { parseAugmentList } from './augment.js';
import { addCheckCommand } from './check.js';
import { TRAIN_DEFAULTS, type AugmentSpec, type TrainConfig } from './config.js';
import { DEMO_EXPECTED_TOP1, demoConfig, loadDemoPlugins } from './demo.js';
import { describeMatMulLine, HARNESS_VERSION } from './environment.js';
import { evaluateRun, NonFiniteResultError } from './evaluate-run.js';
import { describeModel, formatModelInfo } from './info.js';
import { buildModel, defaultImgSize, estimateModel, footprintOf, modelInputSize, resolveModelRef, resolveModelSpec, type ModelRef } from './model.js';
import { ReplicaWorkerError } from './parallel/pool.js';
import { describePlugins, loadPlugins } from './plugins.js';
import { createReporter } from './progress.js';
import { checkModelFits, explainHeapExhaustion, formatBytes } from './resources.js';
import { addRobustnessCommand } from './robustness/command.js';
import { readCheckpoint } from './train/checkpoint.js';
import { inspectFolder } from './train/run-folder.js';
import { NonFiniteLossError, prepareTraining, train, type TrainResult } from './train/trainer.js';
import { parsePatchSizes } from './train/patch-sizes.js';

/** Exit code of a run stopped by a NaN or infinite loss (the last checkpoint is intact). */
export const EXIT_DIVERGED = 3;

const integer = (min: number) => (value: string) => {
  const n = Number(value);
  if (!/^[+-]?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) throw new FlagError(`expected an integer >= ${min}`);
  return n;
};

const number = (min: number, max = Number.POSITIVE_INFINITY, exclusiveMin = false) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (exclusiveMin ? n <= min : n < min) || n > max) {
    const low = exclusiveMin ? `> ${min}` : `>= ${min}`;
    throw new FlagError(`expected a finite number ${low}${Number.isFinite(max) ? ` and <= ${max}` : ''}`);
  }
  return n;
};

const fraction = (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1) throw new FlagError('expected a number in [0, 1)');
  return n;
};

const augmentList = (value: string) => {
  try {
    return parseAugmentList(value);
  } catch (error) {
    throw new FlagError((error as Error).message);
  }
};

const collect = (value: string, previous: string[] = []) => [...previous, value];

const patchSizeList = (value: string) => {
  try {
    return parsePatchSizes(value);
  } catch (error) {
    throw new FlagError((error as Error).message);
  }
};
const PATCH_SIZES_HELP = "FlexiViT: evaluate/train at these patch sizes (comma-separated); without a list, the paper's ten at 240 px, else every divisor of the image size leaving a 2x2 grid";

const backendOption = () => new Option('--backend <name>', 'tensor backend').choices(BACKENDS as unknown as string[]).default('auto');
/** --workers of train, eval and robustness: `what` runs data-parallel (training, evaluation). */
const workersOption = (what: string) =>
  new Option('--workers <n>', `data-parallel worker threads for ${what} on wasm/cpu, each with a replica of the model`)
    .argParser(integer(1))
    .default(availableParallelism(), `the number of cores, ${availableParallelism()}`);
const pluginOption = () => new Option('--plugin <package>', 'also register the plugins a package (or file) exports; repeatable').argParser(collect).default([]);

interface Io {
  out(line: string): void;
  err(line: string): void;
}

const defaultIo: Io = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

function fail(io: Io, json: boolean, error: unknown): number {
  // Tessera's own errors say what to fix; anything else is a bug here, and keeps its class name (TypeError: …) so it reads as one.
  // A replica worker's failure carries the worker's own message, which may be the heap running out there.
  const ownMessage = error instanceof TesseraError && !(error instanceof ReplicaWorkerError);
  const message = ownMessage
    ? error.message
    : (explainHeapExhaustion(error, getBackend) ?? (error instanceof TesseraError ? error.message : error instanceof Error ? `${error.name}: ${error.message}` : String(error)));
  io.err(`error: ${message}`);
  if (json) io.out(JSON.stringify({ error: message, ...(error instanceof NonFiniteLossError ? { runDir: error.runDir, lastCheckpointStep: error.lastCheckpointStep ?? null } : {}) }));
  return error instanceof NonFiniteLossError || error instanceof NonFiniteResultError ? EXIT_DIVERGED : 1;
}

function printResult(io: Io, json: boolean, result: TrainResult, label = 'validation'): void {
  if (json) {
    io.out(JSON.stringify(result));
    return;
  }
  io.out(`${label} top-1 ${(result.top1 * 100).toFixed(2)}%  top-5 ${(result.top5 * 100).toFixed(2)}%  loss ${result.loss.toFixed(4)}`);
  io.out(`${result.steps} steps, ${result.imagesPerSecond.toFixed(1)} train img/s on ${result.backend}${result.matmul && result.matmul !== 'tfjs' ? ` (matmul: ${result.matmul})` : ''}, ${result.seconds.toFixed(1)} s`);
  for (const m of result.patchSizes ?? []) io.out(formatPatchSizeLine(m));
  io.out(`run folder ${result.runDir} (report.html, metrics.jsonl, checkpoint.json)`);
}

function formatPatchSizeLine(m: { patchSize: number; tokens: number; top1: number; top5: number; imagesPerSecond: number }): string {
  return `patch ${String(m.patchSize).padStart(3)}  ${String(m.tokens).padStart(5)} tokens  top-1 ${(m.top1 * 100).toFixed(2).padStart(6)}%  top-5 ${(m.top5 * 100).toFixed(2).padStart(6)}%  ${m.imagesPerSecond.toFixed(1)} img/s`;
}

function defaultRunDir(model: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/Z$/, '');
  const base = model.replace(/\.json$/, '').replace(/[^A-Za-z0-9_-]+/g, '_').slice(-40);
  return resolve('runs', `${base}-${stamp}`);
}

type TrainFlags = {
  model?: string;
  plugin: string[];
  data: string;
  trainSize?: number;
  testSize?: number;
  imgSize?: number;
  epochs: number;
  steps?: number;
  batchSize: number;
  evalBatchSize: number;
  lr: number;
  minLr: number;
  warmupEpochs: number;
  weightDecay: number;
  smoothing: number;
  clipGrad?: number;
  dropPath: number;
  ema?: number;
  augment: AugmentSpec[];
  cropPadding: number;
  flip: boolean;
  seed: number;
  backend: BackendChoice;
  workers: number;
  out?: string;
  resume?: string;
  json?: boolean;
  quiet?: boolean;
  patchSizes?: number[] | true;
  teacher?: string;
  overwrite?: boolean;
  dryRun?: boolean;
};

/**
 * Flags that a resumed run cannot change: the restored data order and model depend on
 * them. Given with --resume, they must equal the saved value, or the run is refused.
 */
const FIXED_ON_RESUME: Record<string, keyof TrainConfig> = {
  data: 'data',
  trainSize: 'trainSize',
  testSize: 'testSize',
  imgSize: 'imgSize',
  batchSize: 'batchSize',
  seed: 'seed',
  cropPadding: 'cropPadding',
  flip: 'flip',
  dropPath: 'dropPath',
};

const kebab = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Refuses flags given with --resume that contradict the saved run (the saved settings would silently win otherwise). */
async function checkResumeFlags(flags: TrainFlags, cmd: Command): Promise<void> {
  const fromCli = (flag: string) => cmd.getOptionValueSource(flag) === 'cli';
  const saved = (await readCheckpoint(flags.resume!)).state.config;
  const conflicts: string[] = [];
  for (const [flag, key] of Object.entries(FIXED_ON_RESUME)) {
    const given = (flags as Record<string, unknown>)[flag];
    if (fromCli(flag) && given !== saved[key]) conflicts.push(`${kebab(flag)} ${JSON.stringify(given)} (the run has ${JSON.stringify(saved[key] ?? null)})`);
  }
  if (fromCli('model')) {
    const ref: ModelRef = await resolveModelRef(flags.model!);
    if (JSON.stringify(ref) !== JSON.stringify(saved.model)) conflicts.push(`--model ${flags.model} (the run trains ${saved.model.name}${saved.model.spec ? ' from its saved spec' : ''})`);
  }
  if (conflicts.length) {
    throw new InvalidArgumentError(
      '--resume',
      flags.resume,
      `flags that agree with the run it continues. A resumed run keeps its model, data, sizes, batch size, seed and input pipeline (the restored data order depends on them), but got ${conflicts.join(', ')}. Drop those flags, or start a new run with --out`,
    );
  }
}

/**
 * Flags a resumed run may override, mapped to config keys. The model, data, batch size,
 * seed and input pipeline stay as saved: the restored data order depends on them.
 */
const FLAG_TO_CONFIG: Record<string, keyof TrainConfig> = {
  epochs: 'epochs',
  steps: 'steps',
  evalBatchSize: 'evalBatchSize',
  lr: 'lr',
  minLr: 'minLr',
  warmupEpochs: 'warmupEpochs',
  weightDecay: 'weightDecay',
  smoothing: 'smoothing',
  clipGrad: 'clipGrad',
  ema: 'ema',
  augment: 'augment',
  backend: 'backend',
  workers: 'workers',
  out: 'out',
  plugin: 'plugins',
};

function addTrainOptions(cmd: Command): Command {
  return cmd
    .option('--model <name|spec.json>', 'a registered model (tessera models) or a JSON model spec')
    .addOption(pluginOption())
    .option('--data <spec>', "dataset: synthetic, cifar10:<dir>, mnist:<dir>, fashion-mnist:<dir> or folder:<dir>", TRAIN_DEFAULTS.data)
    .option('--train-size <n>', 'number of training examples (synthetic: generated; others: the first n)', integer(1))
    .option('--test-size <n>', 'number of validation examples', integer(1))
    .option('--img-size <n>', "input size (default: the model's)", integer(1))
    .option('--epochs <n>', 'epochs (the learning-rate schedule spans them)', integer(1), TRAIN_DEFAULTS.epochs)
    .option('--steps <n>', 'stop after n optimizer steps (smoke runs; checkpointed, resumable)', integer(1))
    .option('--batch-size <n>', 'training batch size', integer(1), TRAIN_DEFAULTS.batchSize)
    .option('--eval-batch-size <n>', 'evaluation batch size', integer(1), TRAIN_DEFAULTS.evalBatchSize)
    .option('--lr <rate>', 'peak learning rate of AdamW', number(0, Number.POSITIVE_INFINITY, true), TRAIN_DEFAULTS.lr)
    .option('--min-lr <rate>', 'learning rate at the end of the cosine schedule', number(0), TRAIN_DEFAULTS.minLr)
    .option('--warmup-epochs <n>', 'linear warmup length in epochs (fractions allowed)', number(0), TRAIN_DEFAULTS.warmupEpochs)
    .option('--weight-decay <λ>', 'decoupled weight decay (not on norms, biases, position embeddings, class tokens)', number(0), TRAIN_DEFAULTS.weightDecay)
    .option('--smoothing <ε>', 'label smoothing', fraction, TRAIN_DEFAULTS.smoothing)
    .option('--clip-grad <norm>', 'clip gradients to this global L2 norm', number(0, Number.POSITIVE_INFINITY, true))
    .option('--drop-path <rate>', 'stochastic depth rate (linear over the blocks)', fraction, TRAIN_DEFAULTS.dropPath)
    .option('--ema <decay>', 'keep an exponential moving average of the weights with this decay, e.g. 0.999', fraction)
    .option('--augment <list>', "batch augmentations: e.g. mixup,cutmix or transmix; options as name:key=value;key=value ('none' for none)", augmentList, [])
    .option('--crop-padding <px>', 'random crop with this zero padding (0: off)', integer(0), TRAIN_DEFAULTS.cropPadding)
    .option('--flip', 'random horizontal flip', TRAIN_DEFAULTS.flip)
    .option('--no-flip', 'no random horizontal flip')
    .option('--seed <n>', 'seed of initialisation, data order, augmentation and dropout', integer(0), TRAIN_DEFAULTS.seed)
    .addOption(backendOption())
    .addOption(workersOption('training and evaluation'))
    .option('--out <dir>', 'run folder (default runs/<model>-<time>); must be new or empty unless --overwrite')
    .option('--overwrite', 'allow --out to be a folder that holds another run or other files (files this run did not write are never deleted)')
    .option('--dry-run', 'check the flags, the model spec, the run folder, the data and the memory needed, then stop before training')
    .option('--patch-sizes [list]', `${PATCH_SIZES_HELP}; training draws one per step (seeded), then evaluates at each`, patchSizeList)
    .option('--teacher <run>', 'distil from this run folder: loss KL(teacher ‖ student) at T = 1 on the same augmented images; the student starts from its weights')
    .option('--json', 'print one JSON object with the final metrics as the last stdout line')
    .option('--quiet', 'no progress output');
}

async function flagsToConfig(flags: TrainFlags): Promise<TrainConfig> {
  if (!flags.model) throw new TesseraError('--model is required (a name from `tessera models` or a JSON spec file), unless --resume is given');
  const model = await resolveModelRef(flags.model);
  return {
    model,
    // Paths are kept absolute so a resumed run finds the same plugin files from any directory.
    plugins: flags.plugin.map((p) => (p.startsWith('.') ? resolve(p) : p)),
    data: flags.data,
    ...(flags.trainSize ? { trainSize: flags.trainSize } : {}),
    ...(flags.testSize ? { testSize: flags.testSize } : {}),
    imgSize: flags.imgSize ?? defaultImgSize(model),
    epochs: flags.epochs,
    ...(flags.steps ? { steps: flags.steps } : {}),
    batchSize: flags.batchSize,
    evalBatchSize: flags.evalBatchSize,
    lr: flags.lr,
    minLr: flags.minLr,
    warmupEpochs: flags.warmupEpochs,
    weightDecay: flags.weightDecay,
    smoothing: flags.smoothing,
    ...(flags.clipGrad !== undefined ? { clipGrad: flags.clipGrad } : {}),
    dropPath: flags.dropPath,
    ...(flags.ema !== undefined ? { ema: flags.ema } : {}),
    augment: flags.augment,
    cropPadding: flags.cropPadding,
    flip: flags.flip,
    seed: flags.seed,
    backend: flags.backend,
    workers: flags.workers,
    out: flags.out ?? defaultRunDir(flags.model),
    ...(flags.patchSizes !== undefined ? { patchSizes: flags.patchSizes } : {}),
    ...(flags.teacher !== undefined ? { teacher: resolve(flags.teacher) } : {}),
  };
}

/** Whether `dir` holds a run of the demo model (config.json names it), which `tessera demo` may replace. */
function isDemoRun(dir: string, model: string): boolean {
  const state = inspectFolder(dir);
  if (state.kind !== 'run') return false;
  try {
    return (JSON.parse(readFileSync(resolve(dir, 'config.json'), 'utf8')) as { model?: { name?: unknown } }).model?.name === model;
  } catch {
    return false;
  }
}

/** Runs the tessera CLI on `argv` (process.argv form) and resolves to the exit code. */
export async function runCli(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  let exitCode = 0;
  const program = new Command('tessera')
    .description('Train, evaluate and inspect vision transformers composed from Tessera plugins')
    .version(HARNESS_VERSION)
    .showSuggestionAfterError()
    // Commander's own errors (a bad flag value, an unknown option) come back here instead of exiting, so --json can report them.
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });

  program
    .command('models')
    .description('list every model of every installed plugin')
    .argument('[filter]', 'glob such as deit_* or t2t_*')
    .addOption(pluginOption())
    .option('--json', 'print a JSON array')
    .action(async (filter: string | undefined, flags: { plugin: string[]; json?: boolean }) => {
      try {
        const loaded = await loadPlugins(flags.plugin, { warn: io.err });
        const pluginLines = describePlugins(loaded);
        if (flags.json) io.err(`plugins loaded: ${pluginLines.join('; ')}`);
        else {
          io.out('plugins loaded:');
          for (const line of pluginLines) io.out(`  ${line}`);
          io.out('');
        }
        const models = registry.listModels(filter).map((name) => {
          const { plugin, definition } = registry.getModel(name);
          return { name, plugin, description: definition.description, inputSize: modelInputSize(name), ...(definition.paper ? { paper: definition.paper } : {}) };
        });
        if (flags.json) io.out(JSON.stringify(models));
        else {
          const width = Math.max(4, ...models.map((m) => m.name.length));
          for (const m of models) io.out(`${m.name.padEnd(width)}  ${m.plugin.padEnd(22)}  ${m.description}`);
          if (!models.length) io.out(filter ? `no model matches ${filter}` : 'no models registered');
        }
      } catch (error) {
        exitCode = fail(io, Boolean(flags.json), error);
      }
    });

  program
    .command('info')
    .description('parameters, multiply-accumulates, and layout and shape after each stage of a model')
    .argument('<model>', 'a registered model name or a JSON model spec')
    .option('--img-size <n>', "input size (default: the model's)", integer(1))
    .option('--num-classes <n>', "classifier size (default: the model's)", integer(1))
    .addOption(pluginOption())
    .addOption(backendOption())
    .option('--json', 'print one JSON object')
    .action(async (modelName: string, flags: { imgSize?: number; numClasses?: number; plugin: string[]; backend: BackendChoice; json?: boolean }) => {
      try {
        await setBackend(flags.backend);
        await loadPlugins(flags.plugin, { warn: io.err });
        const ref = await resolveModelRef(modelName);
        const overrides = { imgSize: flags.imgSize, numClasses: flags.numClasses };
        // info runs one forward pass at batch 1 (to count MACs): refused before building when that cannot fit.
        const fits = { backend: getBackend(), evalBatchSize: 1, what: `${ref.name}${flags.imgSize ? ` at ${flags.imgSize}x${flags.imgSize}` : ''}` };
        estimateModel(ref, overrides, fits, modelName);
        // Parameters and MACs depend on shapes alone: the initial values are not drawn.
        const model = withoutInitialValues(() => buildModel(ref, overrides));
        try {
          checkModelFits(footprintOf(model), fits);
          const info = await describeModel(model);
          io.out(flags.json ? JSON.stringify(info) : formatModelInfo(info));
          // The one place a user sees why the optional native matmul is off (onnxruntime-node absent, another backend).
          if (!flags.json) io.out(describeMatMulLine());
        } finally {
          model.dispose();
        }
      } catch (error) {
        exitCode = fail(io, Boolean(flags.json), error);
      }
    });

  program
    .command('spec')
    .description("print a model's JSON spec with every default filled in; edit it and build it with info or train --model spec.json")
    .argument('<model>', 'a registered model name or a JSON model spec')
    .option('--img-size <n>', "input size (default: the model's)", integer(1))
    .option('--num-classes <n>', "classifier size (default: the model's)", integer(1))
    .option('--out <file>', 'write the spec to this file instead of printing it')
    .addOption(pluginOption())
    .action(async (modelName: string, flags: { imgSize?: number; numClasses?: number; out?: string; plugin: string[] }) => {
      try {
        await loadPlugins(flags.plugin, { warn: io.err });
        const spec = resolveModelSpec(await resolveModelRef(modelName), { imgSize: flags.imgSize, numClasses: flags.numClasses });
        const text = `${JSON.stringify(spec, null, 2)}\n`;
        if (flags.out) {
          const path = resolve(flags.out);
          await writeFileAtomic(path, text);
          io.err(`wrote ${path}`);
        } else io.out(text.trimEnd());
      } catch (error) {
        exitCode = fail(io, false, error);
      }
    });

  addTrainOptions(
    program
      .command('train')
      .description('train a model; writes checkpoints, metrics.jsonl and report.html to the run folder')
      .option('--resume <run|checkpoint>', 'continue a run from its last checkpoint (flags given now override its settings)'),
  ).action(async (flags: TrainFlags, cmd: Command) => {
    try {
      const reporter = createReporter({ quiet: flags.quiet });
      // Plugins first: their models and blocks must be registered before --model is read.
      await loadPlugins(flags.plugin, { warn: (m) => (reporter.warn ? reporter.warn(m) : reporter.info(`warning: ${m}`)) });
      let request: Parameters<typeof train>[0];
      if (flags.resume) {
        await checkResumeFlags(flags, cmd);
        const overrides: Record<string, unknown> = {};
        for (const [flag, key] of Object.entries(FLAG_TO_CONFIG)) {
          if (cmd.getOptionValueSource(flag) === 'cli') overrides[key] = (flags as Record<string, unknown>)[flag];
        }
        if (overrides.out !== undefined && String(overrides.out).trim() !== '') overrides.out = resolve(String(overrides.out));
        request = { resume: flags.resume, overrides: overrides as Partial<TrainConfig> };
      } else {
        request = await flagsToConfig(flags);
      }
      const options = { reporter, overwrite: Boolean(flags.overwrite) };
      if (flags.dryRun) {
        const prepared = await prepareTraining(request, { ...options, dryRun: true });
        const estimate = prepared.estimate;
        const summary = {
          ok: true,
          model: prepared.config.model.name,
          runDir: prepared.runDir,
          trainExamples: prepared.train.length,
          testExamples: prepared.test.length,
          ...(estimate ? { paramsAtLeast: estimate.params, trainBytesAtLeast: estimate.trainBytes, evalBytesAtLeast: estimate.evalBytes } : {}),
          plugins: describePlugins(prepared.plugins),
        };
        if (flags.json) io.out(JSON.stringify(summary));
        else {
          io.out(`dry run: ${summary.model} on ${prepared.config.data} (${summary.trainExamples} training, ${summary.testExamples} test examples) would write to ${summary.runDir}`);
          if (estimate?.trainBytes !== undefined) io.out(`memory: at least ${formatBytes(estimate.trainBytes)} per training step on ${getBackend()}`);
        }
        return;
      }
      const result = await train(request, options);
      printResult(io, Boolean(flags.json), result);
    } catch (error) {
      exitCode = fail(io, Boolean(flags.json), error);
    }
  });

  program
    .command('eval')
    .description('top-1, top-5 and loss of a trained run (or a weights file) on a test split')
    .option('--checkpoint <run|checkpoint|weights>', 'a run folder, its checkpoint.json, or a .safetensors weights file (with --model)')
    .option('--model <name|spec.json>', "the model (default: the run's)")
    .option('--data <spec>', "dataset (default: the run's)")
    .option('--img-size <n>', "input size (default: the run's or the model's)", integer(1))
    .option('--test-size <n>', 'number of examples', integer(1))
    .option('--batch-size <n>', 'evaluation batch size', integer(1), 128)
    .option('--ema', 'evaluate the EMA weights of the run')
    .option('--patch-sizes [list]', `${PATCH_SIZES_HELP}; reports accuracy and images/s per size and adds the accuracy-vs-patch-size chart to the run's report`, patchSizeList)
    .addOption(pluginOption())
    .addOption(backendOption())
    .addOption(workersOption('evaluation'))
    .option('--json', 'print one JSON object with the metrics as the last stdout line')
    .action(
      async (flags: {
        checkpoint?: string;
        model?: string;
        data?: string;
        imgSize?: number;
        testSize?: number;
        batchSize: number;
        ema?: boolean;
        patchSizes?: number[] | true;
        plugin: string[];
        backend: BackendChoice;
        workers: number;
        json?: boolean;
      }) => {
        try {
          const result = await evaluateRun({ ...flags, plugins: flags.plugin, info: (line) => io.err(line) });
          if (flags.json) io.out(JSON.stringify(result));
          else {
            io.out(`${result.model} on ${result.data} (${result.images} images, ${result.weights})`);
            io.out(
              `top-1 ${(result.top1 * 100).toFixed(2)}%  top-5 ${(result.top5 * 100).toFixed(2)}%  loss ${result.loss.toFixed(4)}  ${result.imagesPerSecond.toFixed(1)} img/s on ${result.backend}${result.workers > 1 ? ` (${result.workers} workers)` : ''}`,
            );
            for (const m of result.patchSizes ?? []) io.out(formatPatchSizeLine(m));
          }
        } catch (error) {
          exitCode = fail(io, Boolean(flags.json), error);
        }
      },
    );

  const demoDefaults = demoConfig('');
  program
    .command('demo')
    .description('train a small T2T-stem ViT with TransMix on synthetic data (a few minutes on 2 CPU cores) and write the report')
    .option('--out <dir>', 'run folder (a previous demo run there is replaced; anything else is refused unless --overwrite)', 'runs/demo')
    .option('--overwrite', 'allow --out to hold another run or other files (files the demo did not write are never deleted)')
    .option('--epochs <n>', `epochs (default ${demoDefaults.epochs})`, integer(1))
    .option('--steps <n>', 'stop after n optimizer steps', integer(1))
    .option('--train-size <n>', `synthetic training examples (default ${demoDefaults.trainSize})`, integer(1))
    .option('--test-size <n>', `synthetic validation examples (default ${demoDefaults.testSize})`, integer(1))
    .option('--seed <n>', `seed of initialisation, data order and augmentation (default ${demoDefaults.seed})`, integer(0))
    .addOption(new Option('--backend <name>', 'tensor backend').choices(BACKENDS as unknown as string[]).default('wasm'))
    .option('--json', 'print one JSON object with the final metrics as the last stdout line')
    .option('--quiet', 'no progress output')
    .action(async (flags: { out: string; overwrite?: boolean; epochs?: number; steps?: number; trainSize?: number; testSize?: number; seed?: number; backend: BackendChoice; json?: boolean; quiet?: boolean }) => {
      try {
        await setBackend(flags.backend);
        await loadPlugins([], { warn: io.err });
        await loadDemoPlugins(io.err);
        const config = demoConfig(resolve(flags.out), {
          backend: flags.backend,
          ...(flags.epochs ? { epochs: flags.epochs } : {}),
          ...(flags.steps ? { steps: flags.steps } : {}),
          ...(flags.trainSize ? { trainSize: flags.trainSize } : {}),
          ...(flags.testSize ? { testSize: flags.testSize } : {}),
          ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
        });
        const reporter = createReporter({ quiet: flags.quiet });
        reporter.info(`demo: ${config.model.name} with ${config.augment.map((a) => a.name).join(', ')} on synthetic (${config.trainSize} images, ${config.epochs} epochs, ${config.backend})`);
        // Running the demo again replaces the previous demo run in its folder (documented); nothing else is replaced unasked.
        const result = await train(config, { reporter, overwrite: Boolean(flags.overwrite) || isDemoRun(config.out, config.model.name) });
        printResult(io, Boolean(flags.json), result, `demo validation (expected about ${(DEMO_EXPECTED_TOP1 * 100).toFixed(0)}% or more)`);
      } catch (error) {
        exitCode = fail(io, Boolean(flags.json), error);
      }
    });

  const context = { io, fail: (json: boolean, error: unknown) => fail(io, json, error), setExitCode: (code: number) => (exitCode = code), integer, pluginOption, backendOption, workersOption };
  addRobustnessCommand(program, context);
  addCheckCommand(program, context);

  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    // --help and --version end here too, with exit code 0; commander has already printed what it had to say.
    if (error.exitCode !== 0 && argv.includes('--json')) io.out(JSON.stringify({ error: error.message.replace(/^error: /, '') }));
    return error.exitCode;
  }
  return exitCode;
}
