import { z } from 'zod';
import { InvalidArgumentError } from '../errors.js';
import { modelOptions, parseModelOptions, resolveImgSize } from '../compose/options.js';
import type { ModelSpecInput } from '../compose/spec.js';
import type { ModelDefinition, ModelOptions } from '../plugin/types.js';

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

const deitOptions = modelOptions.extend({ patchSize: z.number().int().min(1).optional() });

const PAPER = 'Touvron et al., Training data-efficient image transformers & distillation through attention, ICML 2021';

/**
 * ViT / DeiT (Dosovitskiy et al. 2021; Touvron et al. 2021) as timm builds it:
 * patch embedding, class token, learned position embedding, pre-norm blocks,
 * final norm and a linear head, with timm's state-dict names (`patch_embed.proj`,
 * `cls_token`, `pos_embed`, `blocks.<i>`, `norm`, `head`).
 */
function deit(name: string, description: string, embedDim: number, numHeads: number): ModelDefinition {
  return {
    description,
    paper: PAPER,
    spec(options: ModelOptions): ModelSpecInput {
      const o = parseModelOptions(deitOptions, name, options);
      const [height, width] = resolveImgSize(o.imgSize, 224);
      const patchSize = o.patchSize ?? 16;
      if (height < patchSize || width < patchSize) {
        throw new InvalidArgumentError('imgSize', [height, width], `at least one ${patchSize}x${patchSize} patch`);
      }
      const dropRate = o.dropRate ?? 0;
      return {
        name,
        imgSize: [height, width],
        inChannels: o.inChannels ?? 3,
        numClasses: o.numClasses ?? 1000,
        mean: [...IMAGENET_MEAN],
        std: [...IMAGENET_STD],
        interpolation: 'bicubic',
        cropPct: 0.875,
        dropPathRate: o.dropPathRate ?? 0,
        dropPathSchedule: 'linear',
        seed: o.seed ?? 0,
        stem: { block: 'patch_embed', name: 'patch_embed', options: { patchSize, embedDim } },
        stages: [
          { block: 'class_token', name: '', options: { posEmbed: 'learned', dropRate } },
          { block: 'transformer', name: 'blocks', depth: 12, options: { numHeads, mlpRatio: 4, qkvBias: true, dropRate, attnDropRate: o.attnDropRate ?? 0 } },
        ],
        head: { block: 'classifier', name: '', options: { pool: 'token', norm: 'layer', dropRate } },
      };
    },
  };
}

export const deitModels: Record<string, ModelDefinition> = {
  deit_tiny_patch16_224: deit('deit_tiny_patch16_224', 'DeiT-Tiny: ViT, 192 wide, 12 blocks, 3 heads, patch 16', 192, 3),
  deit_small_patch16_224: deit('deit_small_patch16_224', 'DeiT-Small: ViT, 384 wide, 12 blocks, 6 heads, patch 16', 384, 6),
  deit_base_patch16_224: deit('deit_base_patch16_224', 'DeiT-Base: ViT, 768 wide, 12 blocks, 12 heads, patch 16', 768, 12),
};
