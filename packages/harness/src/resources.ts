import { constants as bufferConstants } from 'node:buffer';
import { totalmem } from 'node:os';
import { TesseraError, type FeatureSpec } from '@tessera/core';

/**
 * Resource sanity before allocation. A model, batch or dataset that cannot fit is
 * refused in milliseconds with the estimate and the limit, instead of running for
 * minutes and ending in `memory access out of bounds`, `Aborted()` or `Invalid
 * typed array length`.
 *
 * The estimates are lower bounds, so a refusal is always right:
 * - parameters: exact once a model is built; before that, a block a stage repeats is
 *   built once and counted for every copy, and a learned map between
 *   widths C_in → C_out has at least C_in·C_out weights;
 * - training activations: every block's output at the batch size, times
 *   TRAIN_KEPT_PER_OUTPUT (a pre-norm transformer block keeps its input, the norm
 *   output, q/k/v and a 4× hidden layer for the backward pass: well over 8 outputs'
 *   worth), plus weights, gradients and AdamW's two moments (4 copies of the parameters);
 * - attention: each attention layer's heads × N × N map, N the fewest tokens of any token map;
 * - evaluation: the two largest consecutive feature maps (or one attention map) at the evaluation batch size;
 * - datasets: decoded pixels at the stored size, plus the loader's order index (4 bytes an
 *   example, two alive at an epoch change).
 */

/** The wasm backend's heap: 32-bit wasm addresses 4 GiB at most. */
export const WASM_HEAP_BYTES = 4 * 1024 ** 3;
/** How many outputs' worth a block keeps for its backward pass, at least. */
export const TRAIN_KEPT_PER_OUTPUT = 8;
const FLOAT_BYTES = 4;

export class ResourceError extends TesseraError {}

/** Elements of one example's features. */
export function featureElements(spec: FeatureSpec): number {
  if (spec.layout === 'image') return spec.height * spec.width * spec.channels;
  if (spec.layout === 'tokens') return (spec.grid.height * spec.grid.width + spec.numPrefixTokens) * spec.channels;
  return spec.channels;
}

const channelsOf = (spec: FeatureSpec): number => spec.channels;

/** A parameter count that is certainly not more than the model's: C_in·C_out for each block that changes the width. */
export function parametersAtLeast(blocks: ReadonlyArray<{ input: FeatureSpec; output: FeatureSpec }>): number {
  let total = 0;
  for (const { input, output } of blocks) if (channelsOf(input) !== channelsOf(output)) total += channelsOf(input) * channelsOf(output);
  return total;
}

/** The memory the backend can give tensors. */
export function deviceMemoryLimit(backend: string): { bytes: number; what: string } {
  if (backend === 'wasm') return { bytes: WASM_HEAP_BYTES, what: 'the 4 GiB wasm heap' };
  return { bytes: totalmem(), what: `this machine's ${formatBytes(totalmem())} of memory` };
}

/** The memory a dataset may take in the host process: one typed array at most, half the machine at most. */
export function hostMemoryLimit(): { bytes: number; what: string } {
  const bytes = Math.min(bufferConstants.MAX_LENGTH, totalmem() / 2);
  return { bytes, what: bytes === bufferConstants.MAX_LENGTH ? `the ${formatBytes(bytes)} a single buffer can hold` : `half this machine's memory (${formatBytes(bytes)})` };
}

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 || unit === 0 ? value.toFixed(0) : value.toPrecision(3)} ${units[unit]}`;
}

/**
 * The advice when a model's parameters, gradients and AdamW moments alone exceed the
 * backend: no batch or image size can help, another backend can. Evaluation needs the
 * parameters only, so it still runs here.
 */
function trainingElsewhere(stateBytes: number, backend: string, exact: boolean): string {
  const machine = deviceMemoryLimit('cpu');
  const elsewhere = [
    ...(backend !== 'cpu' && machine.bytes > stateBytes ? [`--backend cpu (${machine.what}; slower)`] : []),
    ...(backend !== 'webgpu' && backend !== 'tensorflow-gpu' ? ['--backend webgpu or tensorflow-gpu on a GPU with enough memory'] : []),
  ];
  return (
    `Its parameters, gradients and AdamW moments alone need ${exact ? '' : 'at least '}${formatBytes(stateBytes)}, so no --batch-size or --img-size fits the ${backend} backend. ` +
    `${elsewhere.length ? `Train it with ${elsewhere.join(', or ')}, or` : 'Train it on a device with more memory, or'} choose a smaller model; \`tessera eval\` and \`tessera info\` still run it here.`
  );
}

export interface ModelFootprint {
  /** The feature spec after each block (stem first, head last). */
  readonly outputs: readonly FeatureSpec[];
  /** The input image spec. */
  readonly input: FeatureSpec;
  readonly params: number;
  /** False when `params` is a lower bound (the model is not built yet). */
  readonly paramsExact: boolean;
  /** Heads of each attention layer (one entry per layer), when known: each makes a heads × N × N map. */
  readonly attentionHeads?: readonly number[];
}

/** The fewest tokens any token-layout feature map of the model has: every attention map is at least that squared. */
function fewestTokens(outputs: readonly FeatureSpec[]): number {
  const counts = outputs.filter((o) => o.layout === 'tokens').map((o) => (o.layout === 'tokens' ? o.grid.height * o.grid.width + o.numPrefixTokens : 0));
  return counts.length ? Math.min(...counts) : 0;
}

export interface ResourceEstimate {
  readonly params: number;
  readonly paramsExact: boolean;
  readonly trainBytes?: number;
  readonly evalBytes?: number;
}

/**
 * Refuses a model whose training step (at `batchSize`, when given) or evaluation
 * (at `evalBatchSize`) cannot fit the backend, before any tensor is made.
 */
export function checkModelFits(model: ModelFootprint, options: { backend: string; batchSize?: number; evalBatchSize?: number; what: string }): ResourceEstimate {
  const limit = deviceMemoryLimit(options.backend);
  const paramBytes = model.params * FLOAT_BYTES;
  const perExample = [model.input, ...model.outputs].map(featureElements);
  const tokens = fewestTokens(model.outputs);
  const attention = (model.attentionHeads ?? []).map((heads) => heads * tokens * tokens);
  const activationElements = perExample.slice(1).reduce((a, b) => a + b, 0) + attention.reduce((a, b) => a + b, 0);
  const refuse = (label: string, bytes: number, detail: string): never => {
    throw new ResourceError(
      `${options.what}: ${label} needs ${model.paramsExact ? '' : 'at least '}${formatBytes(bytes)}, more than ${limit.what} (${options.backend} backend). ${detail}`,
    );
  };
  const paramsText = `${model.paramsExact ? '' : 'at least '}${model.params.toLocaleString('en-US')} parameters`;
  if (paramBytes > limit.bytes) refuse(`the model (${paramsText})`, paramBytes, 'Make it smaller (embedDim, depth, numClasses).');
  let trainBytes: number | undefined;
  if (options.batchSize !== undefined) {
    const stateBytes = 4 * paramBytes;
    trainBytes = stateBytes + options.batchSize * (perExample[0]! + activationElements * TRAIN_KEPT_PER_OUTPUT) * FLOAT_BYTES;
    if (trainBytes > limit.bytes) {
      refuse(
        `a training step at batch size ${options.batchSize} (${paramsText} with gradients and AdamW moments, and the activations of ${model.outputs.length} blocks kept for the backward pass)`,
        trainBytes,
        stateBytes > limit.bytes ? trainingElsewhere(stateBytes, options.backend, model.paramsExact) : 'Lower --batch-size or --img-size, or make the model smaller.',
      );
    }
  }
  let evalBytes: number | undefined;
  if (options.evalBatchSize !== undefined) {
    let widest = 0;
    for (let i = 1; i < perExample.length; i++) widest = Math.max(widest, perExample[i - 1]! + perExample[i]!);
    widest = Math.max(widest, ...attention);
    evalBytes = paramBytes + options.evalBatchSize * widest * FLOAT_BYTES;
    if (evalBytes > limit.bytes) refuse(`evaluation at batch size ${options.evalBatchSize}`, evalBytes, 'Lower the evaluation batch size or --img-size.');
  }
  return { params: model.params, paramsExact: model.paramsExact, ...(trainBytes !== undefined ? { trainBytes } : {}), ...(evalBytes !== undefined ? { evalBytes } : {}) };
}

/** Refuses a dataset split whose decoded pixels and loader index cannot fit in the process. */
export function checkDatasetFits(options: { flag: string; data: string; count: number; imageBytes: number; cachedAtMost?: number }): number {
  const limit = hostMemoryLimit();
  const pixels = Math.min(options.count * options.imageBytes, options.cachedAtMost ?? Number.POSITIVE_INFINITY);
  // The loader's order index: 4 bytes an example, and two are alive while an epoch hands over to the next.
  const bytes = pixels + options.count * 8;
  if (bytes > limit.bytes) {
    throw new ResourceError(
      `${options.flag} ${options.count}: ${options.data} would need ${formatBytes(bytes)} (${options.count.toLocaleString('en-US')} images of ${options.imageBytes.toLocaleString('en-US')} bytes${options.cachedAtMost !== undefined ? `, at most ${formatBytes(options.cachedAtMost)} of them cached` : ''}, and the loader's order index), more than ${limit.what}. Use fewer examples.`,
    );
  }
  return bytes;
}

/*
 * What a wasm heap that runs out looks like from JavaScript: emscripten's abort()
 * ("Aborted()", also relayed by a data-parallel worker), a trap on an address past
 * the heap ("memory access out of bounds"), or XNNPACK's out-of-memory status. The
 * pre-build estimate counts weights, gradients and AdamW moments but not activations,
 * so a large model at a large input and batch can still get here mid-step.
 */
const HEAP_EXHAUSTED = /\bAborted\(\)|memory access out of bounds|out of memory|Array buffer allocation failed/i;

/**
 * The message for an error thrown while a model runs on the wasm backend when it is
 * the heap running out: what happened and what to change. Anything else: undefined.
 */
export function explainHeapExhaustion(error: unknown, backend: () => string): string | undefined {
  // The backend is asked only for a matching error: asking tfjs with none active would start one.
  if (!(error instanceof Error) || !HEAP_EXHAUSTED.test(error.message) || backend() !== 'wasm') return undefined;
  return (
    `the wasm backend ran out of its 4 GiB heap while the model ran (${error.name}: ${error.message}). ` +
    'Activations grow with --batch-size and --img-size: lower them, ' +
    'or train on --backend cpu (no heap limit, slower) or a GPU backend (--backend webgpu); with --workers N each worker holds batch ÷ N images'
  );
}
