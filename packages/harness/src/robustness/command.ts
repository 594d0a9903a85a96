import { Command, InvalidArgumentError as FlagError, Option } from 'commander';
import type { BackendChoice } from '@tessera/core';
import { parseCorruptionList, parseSeverities, type CorruptionName } from './corruptions/index.js';
import { runRobustness, type RobustnessResult } from './run.js';

/** What `tessera robustness` shares with the other commands (commands.ts): output, error reporting and flag parsers. */
export interface CommandContext {
  readonly io: { out(line: string): void; err(line: string): void };
  fail(json: boolean, error: unknown): number;
  setExitCode(code: number): void;
  readonly integer: (min: number) => (value: string) => number;
  readonly pluginOption: () => Option;
  readonly backendOption: () => Option;
  readonly workersOption: (what: string) => Option;
}

type RobustnessFlags = {
  checkpoint?: string;
  model?: string;
  data?: string;
  cleanData?: string;
  imgSize?: number;
  corruptions: CorruptionName[];
  severities: number[];
  baseline?: string;
  limit?: number;
  seed: number;
  table?: 'imagenet' | 'cifar';
  batchSize: number;
  ema?: boolean;
  plugin: string[];
  backend: BackendChoice;
  workers: number;
  out?: string;
  json?: boolean;
  quiet?: boolean;
};

const asFlag =
  <T>(parse: (text: string) => T) =>
  (value: string) => {
    try {
      return parse(value);
    } catch (error) {
      throw new FlagError((error as Error).message);
    }
  };

const pct = (v: number | null) => (v === null || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(2)}%`);

/** The line `--json` prints last: the headline metrics and where the files are. */
export function robustnessSummary(result: RobustnessResult) {
  const m = result.metrics;
  return {
    model: result.model,
    cleanTop1: result.clean.top1,
    mCE: m.mCE,
    relativeMCE: m.relativeMCE,
    normalisation: m.normalisation,
    mceComplete: m.mceComplete,
    meanCorruptionAccuracy: m.meanCorruptionAccuracy,
    retention: m.retention,
    images: result.images,
    workers: result.workers,
    seconds: result.seconds,
    outDir: result.outDir,
  };
}

export function addRobustnessCommand(program: Command, ctx: CommandContext): void {
  program
    .command('robustness')
    .description('top-1 under the 15 + 4 ImageNet-C corruptions at 5 severities: CE, mCE, relative mCE, retention; writes robustness.json and robustness.html')
    .option('--checkpoint <run|checkpoint|weights>', 'a run folder, its checkpoint.json, or a .safetensors weights file (with --model)')
    .option('--model <name|spec.json>', "the model (default: the run's)")
    .option('--data <spec>', "clean test data (default: the run's), or cifar10c:<dir> for the released CIFAR-10-C .npy files")
    .option('--clean-data <spec>', "with cifar10c:<dir>: the CIFAR-10 test set for clean accuracy (default: the run's data)")
    .option('--img-size <n>', "input size (default: the run's or the model's)", ctx.integer(1))
    .addOption(new Option('--corruptions <list>', 'all, common (the 15 of mCE), extra (the 4 held-out), or a comma-separated list').argParser(asFlag(parseCorruptionList)).default(parseCorruptionList('all'), 'all'))
    .addOption(new Option('--severities <list>', 'severities, e.g. 1-5, 3 or 1,3,5').argParser(asFlag(parseSeverities)).default([1, 2, 3, 4, 5], '1-5'))
    .option('--baseline <results>', 'a robustness.json (or its folder) from another model: CE is normalised by its errors')
    .option('--limit <n>', 'evaluate a seeded subset of n test images', ctx.integer(1))
    .option('--seed <n>', 'seed of the subset and of the corruptions', ctx.integer(0), 0)
    .addOption(new Option('--table <name>', 'severity parameters: imagenet (ImageNet-C) or cifar (CIFAR-10-C); default by image size (cifar at 32 px or less)').choices(['imagenet', 'cifar']))
    .option('--batch-size <n>', 'evaluation batch size', ctx.integer(1), 128)
    .option('--ema', 'evaluate the EMA weights of the run')
    .addOption(ctx.pluginOption())
    .addOption(ctx.backendOption())
    .addOption(ctx.workersOption('evaluation'))
    .option('--out <dir>', 'output folder (default: <run>/robustness, or runs/<model>-robustness-<time>)')
    .option('--json', 'print one JSON object with mCE and retention as the last stdout line')
    .option('--quiet', 'no progress output')
    .action(async (flags: RobustnessFlags) => {
      try {
        const result = await runRobustness({
          ...(flags.checkpoint ? { checkpoint: flags.checkpoint } : {}),
          ...(flags.model ? { model: flags.model } : {}),
          ...(flags.data ? { data: flags.data } : {}),
          ...(flags.cleanData ? { cleanData: flags.cleanData } : {}),
          ...(flags.imgSize ? { imgSize: flags.imgSize } : {}),
          corruptions: flags.corruptions,
          severities: flags.severities,
          ...(flags.baseline ? { baseline: flags.baseline } : {}),
          ...(flags.limit ? { limit: flags.limit } : {}),
          seed: flags.seed,
          ...(flags.table ? { table: flags.table } : {}),
          batchSize: flags.batchSize,
          ...(flags.ema ? { ema: true } : {}),
          plugins: flags.plugin,
          backend: flags.backend,
          workers: flags.workers,
          ...(flags.out ? { out: flags.out } : {}),
          log: flags.quiet ? () => {} : (line) => ctx.io.err(line),
        });
        if (flags.json) ctx.io.out(JSON.stringify(robustnessSummary(result)));
        else {
          const m = result.metrics;
          ctx.io.out(`${result.model}: clean top-1 ${pct(result.clean.top1)}  ${m.normalisation === 'none' ? 'mean corruption error' : `mCE (${m.normalisation})`} ${pct(m.mCE)}  relative mCE ${pct(m.relativeMCE)}`);
          ctx.io.out(`mean corruption accuracy ${pct(m.meanCorruptionAccuracy)}  retention ${pct(m.retention)}  (${result.images} images, ${result.seconds.toFixed(1)} s)`);
          ctx.io.out(`wrote ${result.outDir}/robustness.json and robustness.html`);
        }
      } catch (error) {
        ctx.setExitCode(ctx.fail(Boolean(flags.json), error));
      }
    });
}
