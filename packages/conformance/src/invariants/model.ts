import {
  CompositionError,
  composeModel,
  decodeSafetensors,
  encodeSafetensors,
  ForwardContext,
  oneHot,
  parseModelSpec,
  planModel,
  Rng,
  softTargetCrossEntropy,
  tf,
  type ComposedModel,
  type Features,
  type ModelSpec,
  type PlannedBlock,
  type Registry,
} from '@tessera/core';
import { fail, pass, skip, type CheckResult, type Contract } from '../results.js';
import { describeFeatures, describePlanned, errorMessage, featuresMatch, firstNonFinite, maxDifference, randomFeatures, randomImages, sameSpec, values } from './tensors.js';

/** A batch the invariants feed every model: random images and one-hot targets of cycling labels. */
export interface FixedBatch {
  readonly images: tf.Tensor4D;
  readonly labels: number[];
  readonly targets: tf.Tensor2D;
  readonly seed: number;
}

export function fixedBatch(spec: ModelSpec, batchSize: number, seed: number): FixedBatch {
  const [height, width] = typeof spec.imgSize === 'number' ? [spec.imgSize, spec.imgSize] : spec.imgSize;
  const labels = Array.from({ length: batchSize }, (_, i) => i % spec.numClasses);
  return { images: randomImages(batchSize, height, width, spec.inChannels, seed), labels, targets: oneHot(labels, spec.numClasses), seed };
}

export function disposeBatch(batch: FixedBatch): void {
  tf.dispose([batch.images, batch.targets]);
}

/** Spec paths as core writes them at the start of a refusal: `stem`, `stages[2]`, `head`. */
const SPEC_PATH = /(^|[\s:'(])(stem|head|stages\[\d+\]|imgSize|numClasses|inChannels|name|dropPathRate|seed)(?=$|[\s:.,'")\]])/;

export type Planned = { ok: true; spec: ModelSpec; plan: PlannedBlock[] } | { ok: false; result: CheckResult; refusal: string; refused: boolean };

/**
 * The first invariant: a spec is either planned (every block resolved, its options
 * valid, its input accepted) or refused with a CompositionError naming the spec
 * path, and in both cases before any tensor exists.
 */
export function planOrRefuse(input: unknown, registry: Registry): Planned {
  const before = tf.memory().numTensors;
  try {
    const spec = parseModelSpec(input);
    const plan = planModel(spec, registry);
    const made = tf.memory().numTensors - before;
    if (made !== 0) return { ok: false, refused: false, refusal: '', result: fail('build', `planning the spec made ${made} tensor(s); outputSpec must not create tensors`) };
    return { ok: true, spec, plan };
  } catch (error) {
    const message = errorMessage(error);
    const made = tf.memory().numTensors - before;
    const problems: string[] = [];
    if (!(error instanceof CompositionError)) problems.push(`refused with ${(error as Error)?.constructor?.name ?? typeof error} instead of a CompositionError: ${message}`);
    else if (!SPEC_PATH.test(message)) problems.push(`the refusal does not name a spec path (stem, stages[i], head): ${message}`);
    if (made !== 0) problems.push(`${made} tensor(s) existed after the refusal`);
    if (problems.length) return { ok: false, refused: false, refusal: message, result: fail('build', problems.join('; ')) };
    return { ok: false, refused: true, refusal: message, result: pass('build', `refused: ${message}`) };
  }
}

/** Builds a planned spec; a block that planned but cannot be created breaks the build contract. */
export function build(spec: ModelSpec, registry: Registry): { model: ComposedModel } | { result: CheckResult } {
  const before = tf.memory().numTensors;
  try {
    return { model: composeModel(spec, registry) };
  } catch (error) {
    const left = tf.memory().numTensors - before;
    return { result: fail('build', `the spec planned without complaint, then building it failed: ${errorMessage(error)}${left ? ` (and ${left} tensor(s) were left behind)` : ''}; outputSpec must refuse every input create() cannot take`) };
  }
}

/**
 * Each planned block, created on its own and fed random features of its planned
 * input, returns features of exactly its planned output (layout, grid, prefix
 * tokens, shape), and reports the same outputSpec its definition planned.
 */
export function checkShapes(plan: readonly PlannedBlock[], batchSize: number, seed: number): CheckResult {
  for (const [i, p] of plan.entries()) {
    const where = `${p.path}${p.index !== undefined ? `[${p.index}]` : ''} (${p.block})`;
    let block;
    try {
      block = p.definition.create(p.input, p.options, new Rng(seed + i));
    } catch (error) {
      return fail('shapes', `${where}: create() threw for its planned input ${describePlanned(p.input, batchSize)}: ${errorMessage(error)}`);
    }
    try {
      if (!sameSpec(block.outputSpec, p.output)) {
        return fail('shapes', `${where}: the block reports outputSpec ${describePlanned(block.outputSpec, batchSize)}, but its definition's outputSpec planned ${describePlanned(p.output, batchSize)}`);
      }
      const input = randomFeatures(p.input, batchSize, seed + i);
      try {
        // Blocks may leave intermediates to the model's scope; the tidy stands in for it.
        let y: Features | undefined;
        const kept = tf.tidy(() => {
          y = block!.forward(input, new ForwardContext(false, new Rng(seed)));
          return y.tensor;
        });
        try {
          if (!featuresMatch(y!, p.output, batchSize)) {
            return fail('shapes', `${where}: planned ${describePlanned(p.output, batchSize)}, but forward returned ${describeFeatures(y!)}`);
          }
        } finally {
          if (kept !== input.tensor) kept.dispose();
        }
      } catch (error) {
        return fail('shapes', `${where}: forward threw on its planned input ${describePlanned(p.input, batchSize)}: ${errorMessage(error)}`);
      } finally {
        input.tensor.dispose();
      }
    } finally {
      block.dispose();
    }
  }
  return pass('shapes');
}

/** Eval-mode logits as numbers (the tensor is freed). */
function predictValues(model: ComposedModel, images: tf.Tensor4D): { data: Float32Array; shape: number[] } {
  const logits = model.predict(images);
  try {
    return { data: Float32Array.from(values(logits)), shape: logits.shape };
  } finally {
    logits.dispose();
  }
}

function trainingLoss(model: ComposedModel, batch: FixedBatch, training = true): tf.Scalar {
  return softTargetCrossEntropy(model.forward(batch.images, { training, rng: new Rng(batch.seed) }).logits, batch.targets);
}

/** Eval logits are [B, classes] and finite. Runs first, before any check that compares logits (NaN equals nothing). */
export function checkFiniteLogits(model: ComposedModel, batch: FixedBatch): CheckResult {
  const [b] = batch.images.shape;
  const k = model.config.numClasses;
  const logits = predictValues(model, batch.images);
  if (logits.shape.length !== 2 || logits.shape[0] !== b || logits.shape[1] !== k) {
    return fail('finite', `eval logits have shape [${logits.shape.join(', ')}], expected [${b}, ${k}]`);
  }
  const bad = firstNonFinite(logits.data);
  if (bad >= 0) return fail('finite', `eval logits contain ${logits.data[bad]} (row ${Math.floor(bad / k)}, class ${bad % k})`);
  return pass('finite');
}

/** A training loss is finite and gives every trainable parameter a finite gradient. */
export function checkFinite(model: ComposedModel, batch: FixedBatch): CheckResult {
  const trainable = model.namedParameters().filter(([, p]) => p.trainable);
  if (!trainable.length) return pass('finite', 'no trainable parameter');
  const { value, grads } = tf.variableGrads(() => trainingLoss(model, batch), trainable.map(([, p]) => p.variable));
  try {
    const loss = values(value)[0]!;
    if (!Number.isFinite(loss)) return fail('finite', `the training loss is ${loss}`);
    const missing: string[] = [];
    const nonFinite: string[] = [];
    for (const [key, p] of trainable) {
      const g = grads[p.variable.name];
      if (!g) missing.push(key);
      else if (firstNonFinite(values(g)) >= 0) nonFinite.push(key);
    }
    if (nonFinite.length) return fail('finite', `non-finite gradient for ${nonFinite.join(', ')}`);
    if (missing.length) return fail('finite', `no gradient reaches the trainable parameter(s) ${missing.join(', ')} (register them with trainable: false if they are not trained)`);
    return pass('finite');
  } finally {
    tf.dispose([value, ...Object.values(grads)]);
  }
}

/** Eval logits of each image are the same whether it is run alone, with some of the batch, or with all of it. */
export function checkBatchIndependence(model: ComposedModel, batch: FixedBatch): CheckResult {
  const [b] = batch.images.shape;
  if (b < 2) return skip('batch-independence', 'needs a batch of 2 or more');
  const k = model.config.numClasses;
  const full = predictValues(model, batch.images).data;
  const parts: Array<[number, number]> = [
    [0, 1],
    [1, b - 1],
  ];
  for (const [start, size] of parts) {
    const slice = tf.slice(batch.images, [start, 0, 0, 0], [size, -1, -1, -1]) as tf.Tensor4D;
    try {
      const alone = predictValues(model, slice).data;
      const { diff, scale } = maxDifference(full.subarray(start * k, (start + size) * k), alone);
      // float32 kernels may block a batch differently by size: a few ulps of the logits' scale.
      if (!(diff <= 1e-4 * (1 + scale))) {
        return fail('batch-independence', `images ${start}..${start + size - 1} give logits differing by ${diff.toExponential(2)} (scale ${scale.toExponential(2)}) when run in a batch of ${b} or in a batch of ${size}`);
      }
    } finally {
      slice.dispose();
    }
  }
  return pass('batch-independence');
}

/**
 * A second model from the same spec (same seed) has identical weights and eval
 * logits, and two training forwards with the same Rng give identical logits.
 * Runs before any training step or batch-statistics update of `model`.
 */
export function checkDeterminism(model: ComposedModel, registry: Registry, batch: FixedBatch): CheckResult {
  const twin = composeModel(model.spec, registry);
  try {
    const a = model.stateDict();
    const b = twin.stateDict();
    const keys = Object.keys(a);
    if (keys.join() !== Object.keys(b).join()) return fail('determinism', `two builds of one spec have different state-dict keys`);
    for (const key of keys) {
      const { diff } = maxDifference(values(a[key]!), values(b[key]!));
      if (diff !== 0) return fail('determinism', `two builds with seed ${model.spec.seed} differ in '${key}' by ${diff.toExponential(2)}; draw every initial value from the Rng create() receives`);
    }
    const first = predictValues(model, batch.images).data;
    const second = predictValues(twin, batch.images).data;
    const { diff } = maxDifference(first, second);
    if (diff !== 0) return fail('determinism', `two builds with the same seed give eval logits differing by ${diff.toExponential(2)}`);
    const train = () => {
      const out = model.forward(batch.images, { training: true, rng: new Rng(batch.seed) });
      try {
        return Float32Array.from(values(out.logits));
      } finally {
        out.logits.dispose();
      }
    };
    const t1 = train();
    const t2 = train();
    const d = maxDifference(t1, t2).diff;
    if (d !== 0) return fail('determinism', `two training forwards with the same Rng differ by ${d.toExponential(2)}; draw dropout masks from ctx.rng`);
    return pass('determinism');
  } finally {
    twin.dispose();
  }
}

/** The state dict, through safetensors bytes, into a model built with another seed, reproduces the eval logits exactly. */
export function checkStateDictRoundTrip(model: ComposedModel, registry: Registry, batch: FixedBatch): CheckResult {
  const bytes = encodeSafetensors(model.stateDict());
  const other = composeModel({ ...model.spec, seed: model.spec.seed + 1 }, registry);
  try {
    const decoded = decodeSafetensors(bytes);
    try {
      other.loadStateDict(decoded.tensors);
    } catch (error) {
      return fail('state-dict', `its own state dict does not load into a second build: ${errorMessage(error)}`);
    } finally {
      tf.dispose(Object.values(decoded.tensors));
    }
    const expected = predictValues(model, batch.images).data;
    const got = predictValues(other, batch.images).data;
    const { diff } = maxDifference(expected, got);
    if (diff !== 0) return fail('state-dict', `after loading the state dict, eval logits differ by ${diff.toExponential(2)}; some state the forward pass reads is not in the state dict`);
    return pass('state-dict');
  } finally {
    other.dispose();
  }
}

/**
 * Tensor counts (outside any tidy) are the same before and after a training
 * forward, an eval forward, a forward with every named output, a backward pass,
 * and optimiser steps after the first (which creates the optimiser's slots).
 */
export function checkLeaks(model: ComposedModel, batch: FixedBatch): CheckResult {
  const count = () => tf.memory().numTensors;
  const problems: string[] = [];
  const measure = (what: string, run: () => void) => {
    run();
    const before = count();
    run();
    run();
    const grew = count() - before;
    if (grew !== 0) problems.push(`${what} ${grew > 0 ? 'leaves' : 'frees'} ${Math.abs(grew) / 2} tensor(s) per call`);
  };
  measure('a training forward', () => tf.dispose(model.forward(batch.images, { training: true, rng: new Rng(batch.seed) }).logits));
  measure('an eval forward', () => model.predict(batch.images).dispose());
  if (model.availableOutputs.length) {
    measure(`a forward with outputs ${model.availableOutputs.join(', ')}`, () => {
      const out = model.forward(batch.images, { training: true, rng: new Rng(batch.seed), outputs: model.availableOutputs });
      tf.dispose([out.logits, ...(out.clsAttention ? [out.clsAttention.probs] : [])]);
    });
  }
  const trainable = model.trainableVariables();
  if (trainable.length) {
    measure('a backward pass', () => {
      const { value, grads } = tf.variableGrads(() => trainingLoss(model, batch), trainable);
      tf.dispose([value, ...Object.values(grads)]);
    });
    const beforeOptimizer = count();
    const optimizer = tf.train.adam(1e-4);
    measure('an optimiser step', () => tf.dispose(optimizer.minimize(() => trainingLoss(model, batch), true, trainable) ?? []));
    optimizer.dispose();
    const left = count() - beforeOptimizer;
    if (left !== 0) problems.push(`${left} tensor(s) remain after the optimiser is disposed`);
  }
  return problems.length ? fail('leaks', problems.join('; ')) : pass('leaks');
}

/**
 * One SGD step on the eval-mode loss of a fixed batch lowers that loss. The step
 * size is tried from 1 down to 1e-4 (weights restored between tries), as a
 * backtracking line search: a correct gradient lowers the loss for a small enough
 * step, a wrong one for none. Starting at 1 keeps the decrease above float32
 * resolution when the initial gradients are tiny (0.02-std heads give logits near 0).
 */
export function checkLossDecreases(model: ComposedModel, batch: FixedBatch): CheckResult {
  const trainable = model.trainableVariables();
  if (!trainable.length) return skip('loss-decreases', 'no trainable parameter');
  const lossValue = () => tf.tidy(() => values(trainingLoss(model, batch, false))[0]!);
  const start = lossValue();
  const saved = trainable.map((v) => v.clone());
  const tried: string[] = [];
  try {
    for (const lr of [1, 1e-1, 1e-2, 1e-3, 1e-4]) {
      const optimizer = tf.train.sgd(lr);
      tf.dispose(optimizer.minimize(() => trainingLoss(model, batch, false), true, trainable) ?? []);
      optimizer.dispose();
      const after = lossValue();
      if (after < start) return pass('loss-decreases', `loss ${start.toPrecision(6)} → ${after.toPrecision(6)} at lr ${lr}`);
      tried.push(`${after.toPrecision(6)} at lr ${lr}`);
      trainable.forEach((v, i) => v.assign(saved[i]!));
    }
    return fail('loss-decreases', `loss ${start.toPrecision(6)} did not fall after one SGD step (${tried.join(', ')}); the gradients do not point downhill`);
  } finally {
    tf.dispose(saved);
  }
}

/** Runs `check`, turning an exception into a failure of `contract`. */
export function guarded(contract: Contract, check: () => CheckResult): CheckResult {
  try {
    return check();
  } catch (error) {
    return fail(contract, `threw ${errorMessage(error)}`);
  }
}
