import { cutmixDefinition, mixupDefinition } from '../augment/mix.js';
import { classAttentionBlock } from '../blocks/class-attention.js';
import { classTokenBlock } from '../blocks/class-token.js';
import { classifierBlock } from '../blocks/classifier.js';
import { convPatchEmbedBlock } from '../blocks/conv-patch-embed.js';
import { convStemBlock } from '../blocks/conv-stem.js';
import { patchEmbedBlock } from '../blocks/patch-embed.js';
import { transformerBlock } from '../blocks/transformer.js';
import { deitModels } from '../models/deit.js';
import { CORE_VERSION } from '../version.js';
import type { TesseraPlugin } from './types.js';

/** What core itself contributes: the ViT building blocks, the DeiT models and Mixup/CutMix. */
export const corePlugin: TesseraPlugin = {
  name: '@tessera/core',
  version: CORE_VERSION,
  coreRange: `^${CORE_VERSION}`,
  blocks: {
    patch_embed: patchEmbedBlock,
    conv_patch_embed: convPatchEmbedBlock,
    conv_stem: convStemBlock,
    class_token: classTokenBlock,
    class_attention: classAttentionBlock,
    transformer: transformerBlock,
    classifier: classifierBlock,
  },
  models: deitModels,
  augmentations: {
    mixup: mixupDefinition,
    cutmix: cutmixDefinition,
  },
};
