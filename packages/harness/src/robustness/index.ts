export {
  ALL_CORRUPTIONS,
  COMMON_CORRUPTIONS,
  CORRUPTION_FAMILIES,
  CORRUPTIONS,
  corruptBatch,
  corruptImage,
  DETERMINISTIC_CORRUPTIONS,
  EXTRA_CORRUPTIONS,
  imageSeed,
  isCorruptionName,
  parseCorruptionList,
  parseSeverities,
  type CorruptionName,
  type CorruptOptions,
} from './corruptions/index.js';
export type { CorruptionFn } from './corruptions/types.js';
export { jpegRoundTrip } from './corruptions/digital.js';
export { plasmaFractal, frostTexture } from './corruptions/weather.js';
export type { RgbImage } from './image.js';
export { CIFAR10_C, IMAGENET_C, tableFor, type SeverityTable, type TableName } from './params.js';
export { ALEXNET_CLEAN_ERROR, ALEXNET_ERRORS, computeMetrics, type ErrorTable, type Normalisation, type RobustnessMetrics } from './metrics.js';
export { Cifar10C, CorruptedDataset, corruptPixels, parseNpyHeader, SubsetDataset, subsetIndices, type NpyHeader } from './datasets.js';
export { readBaseline, ROBUSTNESS_HTML, ROBUSTNESS_JSON, runRobustness, type RobustnessOptions, type RobustnessResult } from './run.js';
export { encodePng, heatmapSvg, renderRobustnessReport } from './report.js';
export { CorruptAugmentation, corruptAugmentationDefinition, corruptOptions, type CorruptOptionsInput } from './augment.js';
export { harnessPlugin } from './plugin.js';
export { robustnessSummary } from './command.js';
