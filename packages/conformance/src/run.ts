import { tf, type Registry } from '@tessera/core';
import { checkAugmentation } from './invariants/augmentation.js';
import { build, checkBatchIndependence, checkDeterminism, checkFinite, checkFiniteLogits, checkLeaks, checkLossDecreases, checkShapes, checkStateDictRoundTrip, disposeBatch, fixedBatch, guarded, planOrRefuse } from './invariants/model.js';
import { fail, skip, type CheckResult, type Combination, type CombinationResult, type Contract } from './results.js';

export interface RunOptions {
  /** Images per batch of the model checks (default 4: even, as Mixup's pairing needs; one alone, three together, four in all). */
  readonly batchSize?: number;
}

const MODEL_CONTRACTS: readonly Contract[] = ['shapes', 'batch-independence', 'determinism', 'state-dict', 'finite', 'leaks', 'loss-decreases'];

/**
 * Runs every invariant on one combination with a registry: plan or refuse, build,
 * then the model contracts (in an order that keeps weights and batch statistics
 * untouched until the checks that compare outputs are done), then each
 * augmentation on the model, then that nothing is left once everything is freed.
 */
export function runCombination(combination: Combination, registry: Registry, options: RunOptions = {}): CombinationResult {
  const started = performance.now();
  const done = (outcome: CombinationResult['outcome'], checks: CheckResult[], refusal?: string): CombinationResult => ({
    combination,
    outcome,
    ...(refusal !== undefined ? { refusal } : {}),
    checks,
    passed: checks.every((c) => c.status !== 'fail'),
    seconds: (performance.now() - started) / 1000,
  });
  const startCount = tf.memory().numTensors;
  const planned = planOrRefuse(combination.spec, registry);
  if (!planned.ok) return done(planned.refused ? 'refused' : 'failed', [planned.result], planned.refusal);
  const built = build(planned.spec, registry);
  if ('result' in built) return done('failed', [built.result]);
  const { model } = built;
  const checks: CheckResult[] = [{ contract: 'build', status: 'pass', message: '' }];
  const batch = fixedBatch(planned.spec, options.batchSize ?? 4, combination.seed);
  try {
    const shapes = guarded('shapes', () => checkShapes(planned.plan, batch.images.shape[0], combination.seed));
    checks.push(shapes);
    if (shapes.status === 'fail') {
      for (const contract of MODEL_CONTRACTS.slice(1)) checks.push(skip(contract, 'the shapes contract failed'));
    } else {
      const finiteLogits = guarded('finite', () => checkFiniteLogits(model, batch));
      const comparable = finiteLogits.status !== 'fail';
      const unless = (contract: Contract, check: () => CheckResult) => (comparable ? guarded(contract, check) : skip(contract, 'the logits are not finite'));
      checks.push(unless('batch-independence', () => checkBatchIndependence(model, batch)));
      checks.push(unless('determinism', () => checkDeterminism(model, registry, batch)));
      checks.push(unless('state-dict', () => checkStateDictRoundTrip(model, registry, batch)));
      checks.push(comparable ? guarded('finite', () => checkFinite(model, batch)) : finiteLogits);
      const leaks = guarded('leaks', () => checkLeaks(model, batch));
      checks.push(leaks);
      checks.push(unless('loss-decreases', () => checkLossDecreases(model, batch)));
      for (const ref of combination.augmentations) {
        try {
          const results = checkAugmentation(ref, model, registry, batch);
          // A model that leaks per forward makes every augmentation step leak too; the model's leak is reported once, under leaks.
          checks.push(...results.map((r) => (r.contract === 'augmentation-leaks' && r.status === 'fail' && leaks.status === 'fail' ? skip(r.contract, 'the model itself leaks', ref) : r)));
        } catch (error) {
          checks.push(fail('augmentation-model-check', `threw ${(error as Error).message}`, ref));
        }
      }
    }
  } finally {
    disposeBatch(batch);
    model.dispose();
  }
  const left = tf.memory().numTensors - startCount;
  const refusedAugmentation = checks.some((c) => c.contract === 'augmentation-model-check' && c.status === 'pass' && c.message.startsWith('refused'));
  if (left > 0 && !refusedAugmentation && !checks.some((c) => c.contract === 'leaks' && c.status === 'fail')) {
    checks.push(fail('leaks', `${left} tensor(s) remain after the model is disposed; keep every tensor a block holds as a parameter or buffer`));
  }
  return done('built', checks);
}
