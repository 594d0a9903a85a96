export { runCli, EXIT_DIVERGED } from './commands.js';
export { TRAIN_DEFAULTS, type AugmentSpec, type TrainConfig } from './config.js';
export { train, readMetrics, NonFiniteLossError, type MetricsLine, type TrainIO, type TrainResult } from './train/trainer.js';
export { AdamW, clipGradNorm, type AdamWOptions } from './train/optimizer.js';
export { cosineLr } from './train/schedule.js';
export { WeightEma } from './train/ema.js';
export { CHECKPOINT_FILE, readCheckpoint, saveCheckpoint, type CheckpointState } from './train/checkpoint.js';
export { evaluate, type EvalMetrics } from './evaluate.js';
export { evaluateRun, type EvalOptions, type EvalResult } from './evaluate-run.js';
export { evalWorkerCount, startEvalReplicas, withEvalReplicas, type EvalReplicas, type ReplicaBuild } from './parallel/parallel-eval.js';
export { countMacs, kernelMacs, type MacCount } from './macs.js';
export { describeModel, formatModelInfo, type ModelInfo } from './info.js';
export { buildModel, defaultImgSize, resolveModelRef, type ModelOverrides, type ModelRef } from './model.js';
export { discoverPluginPackages, loadPlugins, pluginsOf, type LoadedPlugin } from './plugins.js';
export { buildAugmentation, parseAugmentList } from './augment.js';
export { demoConfig, demoModelSpec, DEMO_EXPECTED_TOP1 } from './demo.js';
export { renderReport, writeReport, type ReportInput } from './report/report.js';
export { lineChartSvg, type Series } from './report/charts.js';
export { createReporter, type Reporter } from './progress.js';
export { HARNESS_VERSION, describeEnvironment } from './environment.js';
export {
  BatchLoader,
  DATASET_SPECS,
  InMemoryDataset,
  openDataset,
  SYNTHETIC_CLASSES,
  SyntheticDataset,
  type DatasetSplit,
  type ImageDataset,
  type LoaderOptions,
  type LoaderState,
  type OpenDatasetOptions,
} from './data/index.js';
export * from './robustness/index.js';
export { loadEvaluation, type LoadedEvaluation } from './evaluate-run.js';
