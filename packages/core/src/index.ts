// Tensor layer
export { tf } from './tensor/tf.js';
export { BACKENDS, BackendUnavailableError, getBackend, setBackend, webgpuAdapterDescription, type BackendChoice, type ConcreteBackend, type SetBackendOptions } from './tensor/backend.js';
export {
  configureNativeMatMul,
  NATIVE_MATMUL_MODES,
  NATIVE_MIN_MACS,
  nativeMatMulStatus,
  NativeMatMulUnavailableError,
  type NativeMatMulMode,
  type NativeMatMulOptions,
  type NativeMatMulStatus,
} from './native/native-matmul.js';
export { Rng, truncatedNormalValues, type RngState } from './tensor/random.js';
export {
  describeSpec,
  gridToTokens,
  LayoutError,
  specOf,
  specShape,
  tokens,
  tokensToGrid,
  type FeatureSpec,
  type Features,
  type Grid,
  type ImageFeatures,
  type ImageSpec,
  type Layout,
  type TokenFeatures,
  type TokenSpec,
  type VectorFeatures,
  type VectorSpec,
} from './tensor/layout.js';
export { z } from 'zod';

// Errors
export { checkInteger, checkNumber, CompositionError, FormatError, InvalidArgumentError, StateDictError, TesseraError } from './errors.js';

// Differentiable ops that stay on every backend's fast path
export { linear } from './ops/linear.js';
export { stopGradient } from './ops/gradient.js';
export { conv2d, type Conv2dArgs } from './ops/conv.js';
export { batchNormInference, batchNormTraining, sumRows, type BatchStatistics } from './ops/batch-norm.js';
export { batchMatMul } from './ops/batch-matmul.js';
export { layerScale } from './ops/layer-scale.js';
export { layerNorm } from './ops/layer-norm.js';
export { adamwUpdate, type AdamWStep, type AdamWUpdate } from './ops/adamw.js';
export { unfold, unfoldGrid, unfoldOutputSize, type UnfoldArgs } from './ops/unfold.js';
export { bilinearResizeMatrix, PATCH_RESAMPLE_PRESETS, patchResamplePinv, resamplePatchEmbed, type PatchResampleOptions } from './ops/resample-patch-embed.js';
export { resamplePosEmbed, resizeMatrix, type ResampleInterpolation, type ResamplePosEmbedOptions } from './ops/resample-pos-embed.js';

// Modules and layers
export { Module, ModuleDict, ModuleList, type Buffer, type LoadStateDictOptions, type LoadStateDictResult, type Parameter, type ParameterOptions, type TorchLayout } from './nn/module.js';
export { ForwardContext, type AttentionRecord, type StageOverrides } from './nn/context.js';
export { constant, kaimingNormalFanOut, ones, scaledBy, truncNormal, uniformFanIn, zeros, type Initializer } from './nn/init.js';
export { buildWithWeights, initialValuesSkipped, withoutInitialValues } from './nn/deferred-init.js';
export { LayerScale } from './nn/layer-scale.js';
export { Sequential, type SequentialFunction, type SequentialModule, type SequentialStep } from './nn/sequential.js';
export { ClassAttention, type ClassAttentionOptions } from './nn/class-attention.js';
export { Linear, type LinearOptions } from './nn/linear.js';
export { Conv2d, convOutputSize, type Conv2dOptions } from './nn/conv.js';
export { BatchNorm2d, LayerNorm } from './nn/norm.js';
export { Dropout, DropPath, dropPathSchedule } from './nn/dropout.js';
export { gelu, geluTanh } from './nn/activation.js';
export { Mlp, type MlpOptions } from './nn/mlp.js';
export { ConvNormAct, type ConvNormActivation, type ConvNormActOptions, type ConvNormKind } from './nn/conv-norm-act.js';
export { Attention, scaledDotProductAttention, type AttentionOptions } from './nn/attention.js';

// Blocks and models
export { PatchEmbed, patchEmbedBlock, positionEmbeddingInit } from './blocks/patch-embed.js';
export { ConvPatchEmbed, convPatchEmbedBlock, type ConvPatchEmbedOptions } from './blocks/conv-patch-embed.js';
export { convStemBlock } from './blocks/conv-stem.js';
export { TransformerBlock, transformerBlock, transformerOptions, type TransformerOptions } from './blocks/transformer.js';
export { ClassTokenBlock, classTokenBlock, classTokenOptions, type ClassTokenOptions } from './blocks/class-token.js';
export { ClassAttentionBlock, classAttentionBlock, classAttentionOptions, type ClassAttentionBlockOptions } from './blocks/class-attention.js';
export { ClassifierHead, classifierBlock, classifierOptions, type ClassifierOptions } from './blocks/classifier.js';
export { classTokenAttention, VisionModel, stageInfo, type ForwardOptions, type ForwardOverrides, type ModelConfig, type StageInfo } from './models/vision-model.js';
export { deitModels, IMAGENET_MEAN, IMAGENET_STD } from './models/deit.js';
export { sinusoidPositionEmbedding } from './nn/position.js';
export { describeIssuePath, modelOptions, optionNames, parseBlockOptions, parseModelOptions, resolveImgSize } from './compose/options.js';

// Plugins, registry and composition
export {
  Block,
  type Augmentation,
  type AugmentationDefinition,
  type Batch,
  type BlockDefinition,
  type BlockPosition,
  type BlockSupports,
  type ClsAttention,
  type ModelDefaults,
  type ModelDefinition,
  type ModelOptions,
  type ModelOutputs,
  type OutputName,
  type TesseraPlugin,
} from './plugin/types.js';
export { Registry, UnknownNameError, type Registered } from './plugin/registry.js';
export { closestNames } from './plugin/names.js';
export { augmentationExamples } from './plugin/examples.js';
export { corePlugin } from './plugin/core-plugin.js';
export { createModel, createModelFromSpec, listModels, modelSpec, registry, use } from './plugin/default-registry.js';
export { modelSpecSchema, parseModelSpec, type ModelSpec, type ModelSpecInput } from './compose/spec.js';
export { ComposedModel, composeModel, planModel, type PlannedBlock } from './compose/composed-model.js';

// Augmentations and training targets
export { checkTargets, oneHot, smoothTargets, softTargetCrossEntropy } from './augment/targets.js';
export {
  boxArea,
  cutmix,
  cutmixBox,
  cutmixDefinition,
  Mixup,
  mixupDefinition,
  mixupOptions,
  type CutmixOptionsInput,
  type MixBox,
  type MixKind,
  type MixMode,
  type MixParams,
  type MixSample,
  type MixupOptions,
  type MixupOptionsInput,
  type ResolvedMix,
} from './augment/mix.js';
export { applyAugmentations, attachAugmentations, AugmentationChain, chainAugmentations, type AugmentedBatch } from './augment/pipeline.js';
export { createAugmentation } from './augment/create.js';

// Serialisation
// File helpers (loadSafetensors, saveSafetensors, writeFileAtomic) live in '@tessera/core/node', so this entry runs in browsers.
export {
  decodeSafetensors,
  decodeSafetensorsEntry,
  encodeSafetensors,
  encodeSafetensorsAsync,
  MAX_HEADER_BYTES,
  parseSafetensorsHeader,
  type SafetensorsContent,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from './io/safetensors.js';
export { fromTorchLayout, loadTorchStateDict, toTorchLayout, torchStateDict } from './io/torch.js';

export { CORE_VERSION } from './version.js';
