import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option } from 'commander';
import { BACKENDS, registry, setBackend, type BackendChoice, type TesseraPlugin } from '@tessera/core';
import { writeFileAtomic } from '@tessera/core/node';
import {
  augmentationLabel,
  augmentationsLabel,
  checkPlugin,
  combinationFromCounterexample,
  counterexample,
  enumerateCombinations,
  runCombination,
  sampleCombinations,
  shrinkCombination,
  type CheckResult,
  type CombinationResult,
  type Contract,
} from '@tessera/conformance';
import type { Command } from 'commander';
import { loadPlugins } from './plugins.js';
import type { CommandContext } from './robustness/command.js';

/** Where a failure's shrunk counterexample goes unless --out says otherwise. */
export const DEFAULT_COUNTEREXAMPLE = 'tessera-check-failure.json';

type CheckFlags = {
  plugin: string[];
  runs?: number;
  only?: string;
  seed: number;
  imgSize: number;
  maxProduct: number;
  replay?: string;
  out: string;
  backend: BackendChoice;
  json?: boolean;
};

/** Columns of the table, in the order the invariants run. */
const MODEL_COLUMNS: ReadonlyArray<[Contract, string]> = [
  ['build', 'build'],
  ['shapes', 'shape'],
  ['finite', 'finite'],
  ['batch-independence', 'batch'],
  ['determinism', 'seed'],
  ['state-dict', 'state'],
  ['leaks', 'leaks'],
  ['loss-decreases', 'loss'],
];

function mark(checks: readonly CheckResult[], contract: Contract): string {
  const mine = checks.filter((c) => c.contract === contract);
  if (!mine.length) return '·';
  if (mine.some((c) => c.status === 'fail')) return '✗';
  if (mine.every((c) => c.status === 'skip')) return '–';
  return '✓';
}

/**
 * Per augmentation, one mark per example it ran with, followed by the example's
 * index: ✓1 served under examples[1], r0 refused (and rightly so), ✗2 a broken contract.
 */
function augmentationMarks(result: CombinationResult, names: readonly string[]): string {
  return names
    .map((name) => {
      const refs = result.combination.augmentations.filter((a) => a.name === name);
      if (!refs.length) return '·';
      return refs
        .map((ref) => {
          const mine = result.checks.filter((c) => c.augmentation === name && c.example === ref.example);
          const index = ref.example ?? '*';
          if (!mine.length) return `·${index}`;
          if (mine.some((c) => c.status === 'fail')) return `✗${index}`;
          if (mine.some((c) => c.contract === 'augmentation-model-check' && c.message.startsWith('refused'))) return `r${index}`;
          return `✓${index}`;
        })
        .join('');
    })
    .join(' ');
}

function formatTable(results: readonly CombinationResult[], augmentations: readonly string[]): string[] {
  const width = Math.max(11, ...results.map((r) => r.combination.label.length));
  const header = `${'combination'.padEnd(width)}  ${'outcome'.padEnd(7)}  ${MODEL_COLUMNS.map(([, h]) => h.padEnd(7)).join('')}  augment (${augmentations.join(', ')})`;
  const lines = [header, '-'.repeat(header.length)];
  for (const r of results) {
    const cells = r.outcome === 'refused' ? MODEL_COLUMNS.map(([c]) => (c === 'build' ? '✓' : '·').padEnd(7)).join('') : MODEL_COLUMNS.map(([c]) => mark(r.checks, c).padEnd(7)).join('');
    lines.push(`${r.combination.label.padEnd(width)}  ${(r.passed ? r.outcome : 'FAILED').padEnd(7)}  ${cells}  ${r.outcome === 'built' ? augmentationMarks(r, augmentations) : ''}`.trimEnd());
  }
  return lines;
}

function pluginsOtherThan(plugin: TesseraPlugin): TesseraPlugin[] {
  return registry.listPlugins().filter((p) => p !== plugin && p.name !== '@tessera/core');
}

/**
 * `tessera check`: every combination of the installed plugins' blocks (from their
 * declared positions and example options; pairwise when the product is too large),
 * each with every augmentation under its declared examples, through the conformance invariants; the plugins'
 * own checks; a table (or JSON); a shrunk counterexample file on failure.
 */
export async function runCheck(flags: CheckFlags, ctx: CommandContext): Promise<number> {
  const { io } = ctx;
  await setBackend(flags.backend);
  const loaded = await loadPlugins(flags.plugin, { warn: io.err });
  const pluginNames = registry.listPlugins().map((p) => `${p.name}@${p.version}`);
  const started = performance.now();
  if (flags.replay) {
    const path = resolve(flags.replay);
    let combination;
    try {
      combination = combinationFromCounterexample(JSON.parse(readFileSync(path, 'utf8')));
    } catch (error) {
      throw new Error(`--replay ${flags.replay}: ${(error as Error).message}`);
    }
    const result = runCombination(combination, registry);
    const failed = result.checks.filter((c) => c.status === 'fail');
    if (flags.json) io.out(JSON.stringify({ replay: path, label: combination.label, seed: combination.seed, outcome: result.outcome, passed: result.passed, checks: result.checks }));
    else {
      const augmented = combination.augmentations.map((a) => `${augmentationLabel(a)}${a.example !== undefined ? ` ${JSON.stringify(a.options)}` : ''}`).join(', ');
      io.out(`replay ${path}: ${combination.label} (seed ${combination.seed})${augmented ? ` with ${augmented}` : ''}`);
      io.out(result.passed ? `passes now (${result.outcome})` : `fails:\n  ${failed.map((c) => c.message).join('\n  ')}`);
    }
    return result.passed ? 0 : 1;
  }

  const pluginResults = registry
    .listPlugins()
    .filter((p) => p.name !== '@tessera/core')
    .map((plugin) => ({ plugin: `${plugin.name}@${plugin.version}`, checks: checkPlugin(plugin, { dependencies: pluginsOtherThan(plugin) }) }));
  const enumeration = enumerateCombinations(registry, { seed: flags.seed, imgSize: flags.imgSize, maxProduct: flags.maxProduct, ...(flags.only ? { focus: flags.only } : {}) });
  const chosen = flags.runs === undefined ? enumeration.combinations : sampleCombinations(enumeration.combinations, flags.runs, flags.seed);
  const results: CombinationResult[] = [];
  for (const [i, combination] of chosen.entries()) {
    const result = runCombination(combination, registry);
    results.push(result);
    if (!flags.json && (i + 1) % 50 === 0) io.err(`checked ${i + 1} of ${chosen.length} combinations`);
  }
  const augmentations = registry.listAugmentations().map((a) => a.name);
  const failed = results.filter((r) => !r.passed);
  const pluginFailures = pluginResults.flatMap((p) => p.checks.filter((c) => c.status === 'fail').map((c) => `${p.plugin}: ${c.message}`));
  let counterexamplePath: string | undefined;
  let shrunkMessage: string | undefined;
  if (failed.length) {
    const shrunk = shrinkCombination(failed[0]!, registry);
    const file = counterexample(shrunk, pluginNames);
    counterexamplePath = resolve(flags.out);
    await writeFileAtomic(counterexamplePath, `${JSON.stringify(file, null, 2)}\n`);
    shrunkMessage = file.message;
  }
  const seconds = (performance.now() - started) / 1000;
  const summary = {
    plugins: loaded.map((p) => `${p.name}@${p.version}`),
    combinations: results.length,
    enumerated: enumeration.combinations.length,
    product: enumeration.product,
    pairwise: enumeration.pairwise,
    augmentationExamples: enumeration.augmentations,
    built: results.filter((r) => r.outcome === 'built').length,
    refused: results.filter((r) => r.outcome === 'refused').length,
    failed: failed.length,
    pluginFailures: pluginFailures.length,
    seconds,
  };
  if (flags.json) {
    io.out(
      JSON.stringify({
        ...summary,
        pluginChecks: pluginResults,
        results: results.map((r) => ({
          label: r.combination.label,
          augmentations: r.combination.augmentations,
          outcome: r.outcome,
          passed: r.passed,
          seconds: r.seconds,
          ...(r.refusal ? { refusal: r.refusal } : {}),
          checks: r.checks.filter((c) => c.status !== 'pass'),
        })),
        ...(counterexamplePath ? { counterexample: counterexamplePath } : {}),
      }),
    );
  } else {
    for (const line of formatTable(results, augmentations)) io.out(line);
    io.out('');
    io.out('✓ kept  ✗ broken  – skipped  · not applicable  r refused by the augmentation (and rightly so); an augment mark is followed by the index of the example it ran with');
    io.out(`augmentation examples: ${enumeration.augmentations.map((a) => `${a.name} ${a.examples} (${a.coverage === 'every' ? 'each on every combination' : 'pairwise over the combinations'})`).join(', ')}`);
    for (const p of pluginResults) io.out(`plugin ${p.plugin}: ${p.checks.every((c) => c.status !== 'fail') ? 'ok' : 'FAILED'}`);
    io.out(
      `${summary.combinations} combinations${summary.pairwise ? ` (pairwise coverage of a ${summary.product}-row product)` : ''}${flags.runs !== undefined ? `, ${summary.combinations} of ${summary.enumerated} drawn with seed ${flags.seed}` : ''}: ${summary.built} built, ${summary.refused} refused up front, ${summary.failed} failed; ${seconds.toFixed(1)} s`,
    );
    for (const f of pluginFailures) io.out(`FAIL ${f}`);
    for (const r of failed) {
      const augmented = augmentationsLabel(r.combination.augmentations);
      for (const c of r.checks.filter((x) => x.status === 'fail')) io.out(`FAIL ${r.combination.label}${augmented ? ` | ${augmented}` : ''}: ${c.message}`);
    }
    if (counterexamplePath) io.out(`shrunk counterexample (${shrunkMessage}) written to ${counterexamplePath}; rerun it with: tessera check --replay ${counterexamplePath}`);
  }
  return failed.length || pluginFailures.length ? 1 : 0;
}

export function addCheckCommand(program: Command, ctx: CommandContext): void {
  program
    .command('check')
    .description("run the plugin contract's invariants over every combination of the installed plugins' blocks and augmentations")
    .addOption(ctx.pluginOption())
    .option('--runs <n>', 'run a seeded sample of n combinations (default: every enumerated combination)', ctx.integer(1))
    .option('--only <plugin>', "only the combinations that use a block of this plugin (its name, e.g. tessera-plugin-x): a plugin author's quick run")
    .option('--seed <n>', 'seed of the inputs, the weights and the sample', ctx.integer(0), 0)
    .option('--img-size <n>', 'square input size of every combination', ctx.integer(1), 16)
    .option('--max-product <n>', 'above this many rows, the stem x stages x head product is reduced to pairwise coverage', ctx.integer(1), 200)
    .option('--replay <file>', 'rerun the counterexample file a failed check wrote')
    .option('--out <file>', 'where a failure writes its shrunk counterexample', DEFAULT_COUNTEREXAMPLE)
    .addOption(new Option('--backend <name>', 'tensor backend (one backend throughout: the determinism checks compare bit for bit)').choices(BACKENDS as unknown as string[]).default('wasm'))
    .option('--json', 'print one JSON object with every result as the last stdout line')
    .action(async (flags: CheckFlags) => {
      try {
        ctx.setExitCode(await runCheck(flags, ctx));
      } catch (error) {
        ctx.setExitCode(ctx.fail(Boolean(flags.json), error));
      }
    });
}
