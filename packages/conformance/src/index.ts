export { pluginSuite, type DescribeFunction, type PluginSuiteOptions, type TestFunction } from './suite.js';
export { runCombination, type RunOptions } from './run.js';
export { enumerateCombinations, sampleCombinations, type AugmentationCoverage, type EnumerateOptions, type Enumeration } from './combinations.js';
export { pairwiseRows, productRows, productSize } from './pairwise.js';
export { checkPlugin, type PluginCheckOptions } from './invariants/plugin.js';
export {
  build,
  checkBatchIndependence,
  checkDeterminism,
  checkFinite,
  checkFiniteLogits,
  checkLeaks,
  checkLossDecreases,
  checkShapes,
  checkStateDictRoundTrip,
  disposeBatch,
  fixedBatch,
  planOrRefuse,
  type FixedBatch,
} from './invariants/model.js';
export { checkAugmentation } from './invariants/augmentation.js';
export { combinationFromCounterexample, counterexample, shrinkCombination, type Counterexample, type ShrunkCounterexample } from './shrink.js';
export { OFFICIAL_PLUGINS } from './official.js';
export { augmentationLabel, augmentationsLabel, CONTRACTS, failures, type AugmentationRef, type CheckResult, type CheckStatus, type Combination, type CombinationResult, type Contract } from './results.js';
