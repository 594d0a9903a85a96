import { z } from 'zod';
import { positionEmbeddingInit, PatchEmbed } from '../blocks/patch-embed.js';
import { applyTransformerBlocks, prependClassToken, TransformerBlock } from '../blocks/transformer.js';
import { InvalidArgumentError } from '../errors.js';
import type { ForwardContext } from '../nn/context.js';
import { Dropout, dropPathSchedule } from '../nn/dropout.js';
import { Linear } from '../nn/linear.js';
import { ModuleList } from '../nn/module.js';
import { LayerNorm } from '../nn/norm.js';
import type { ModelDefaults, ModelDefinition, ModelOptions, OutputName } from '../plugin/types.js';
import type { TokenSpec } from '../tensor/layout.js';
import { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';
import { stageInfo, VisionModel, type StageInfo } from './vision-model.js';
import { parseModelOptions, resolveImgSize } from '../compose/options.js';

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

export interface VisionTransformerArgs {
  readonly imgSize: readonly [number, number];
  readonly patchSize: number;
  readonly inChannels: number;
  readonly numClasses: number;
  readonly embedDim: number;
  readonly depth: number;
  readonly numHeads: number;
  readonly mlpRatio: number;
  readonly qkvBias: boolean;
  readonly dropRate: number;
  readonly attnDropRate: number;
  readonly dropPathRate: number;
  readonly seed: number;
}

/**
 * ViT / DeiT (Dosovitskiy et al. 2021; Touvron et al. 2021) as timm builds it:
 * patch embedding, class token, learned position embedding, pre-norm blocks,
 * final norm and a linear head. Parameter names match timm's checkpoints.
 */
export class VisionTransformer extends VisionModel {
  readonly patchEmbed: PatchEmbed;
  readonly clsToken: tf.Variable;
  readonly posEmbed: tf.Variable;
  readonly blocks: ModuleList<TransformerBlock>;
  readonly norm: LayerNorm;
  readonly head: Linear;
  private readonly posDrop: Dropout;
  private readonly headDrop: Dropout;
  private readonly tokenSpec: TokenSpec;

  constructor(
    name: string,
    defaults: ModelDefaults,
    readonly args: VisionTransformerArgs,
  ) {
    const [h, w] = args.imgSize;
    super({ ...defaults, name, inputSize: [h, w, args.inChannels], numClasses: args.numClasses }, args.seed);
    const grid = { height: Math.floor(h / args.patchSize), width: Math.floor(w / args.patchSize) };
    if (grid.height < 1 || grid.width < 1) {
      throw new InvalidArgumentError('imgSize', args.imgSize, `at least one ${args.patchSize}x${args.patchSize} patch`);
    }
    if (args.embedDim % args.numHeads !== 0) throw new InvalidArgumentError('numHeads', args.numHeads, `a divisor of embedDim ${args.embedDim}`);
    const rng = new Rng(args.seed);
    this.patchEmbed = this.addModule('patch_embed', new PatchEmbed(args.patchSize, args.inChannels, args.embedDim, rng));
    this.tokenSpec = { layout: 'tokens', grid, channels: args.embedDim, numPrefixTokens: 1 };
    this.clsToken = this.addParameter('cls_token', positionEmbeddingInit([1, 1, args.embedDim], rng), { weightDecay: false });
    this.posEmbed = this.addParameter('pos_embed', positionEmbeddingInit([1, 1 + grid.height * grid.width, args.embedDim], rng), {
      weightDecay: false,
    });
    this.posDrop = new Dropout(args.dropRate);
    const rates = dropPathSchedule(args.dropPathRate, args.depth);
    this.blocks = this.addModule(
      'blocks',
      new ModuleList(
        rates.map(
          (dropPath) =>
            new TransformerBlock(
              this.tokenSpec,
              { numHeads: args.numHeads, mlpRatio: args.mlpRatio, qkvBias: args.qkvBias, dropRate: args.dropRate, attnDropRate: args.attnDropRate, dropPath },
              rng,
            ),
        ),
      ),
    );
    this.norm = this.addModule('norm', new LayerNorm(args.embedDim, rng, 1e-6));
    this.headDrop = new Dropout(args.dropRate);
    this.head = this.addModule('head', new Linear(args.embedDim, args.numClasses, rng));
  }

  get availableOutputs(): readonly OutputName[] {
    return this.args.depth > 0 ? ['clsAttention'] : [];
  }

  stages(): StageInfo[] {
    const [h, w, c] = this.config.inputSize;
    const patchSpec = { ...this.tokenSpec, numPrefixTokens: 0 };
    const blockParams = [...this.blocks].reduce((n, b) => n + b.numParameters(), 0);
    return [
      stageInfo('input', { layout: 'image', height: h, width: w, channels: c }, 0),
      stageInfo('patch_embed', patchSpec, this.patchEmbed.numParameters()),
      stageInfo('cls_token + pos_embed', this.tokenSpec, this.clsToken.size + this.posEmbed.size),
      stageInfo(`blocks x${this.args.depth}`, this.tokenSpec, blockParams),
      stageInfo('norm + head', { layout: 'vector', channels: this.args.numClasses }, this.norm.numParameters() + this.head.numParameters()),
    ];
  }

  /** Tokens after the final norm [B, 1 + h·w, D] (timm's forward_features). */
  forwardFeatures(images: tf.Tensor4D, ctx: ForwardContext, wantAttention = false): tf.Tensor3D {
    const { tokens } = this.patchEmbed.forward(images);
    const x = this.posDrop.forward(prependClassToken(this.clsToken, tokens, this.posEmbed), ctx) as tf.Tensor3D;
    return this.norm.forward(applyTransformerBlocks(this.blocks, x, ctx, this.tokenSpec, wantAttention)) as tf.Tensor3D;
  }

  protected run(images: tf.Tensor4D, ctx: ForwardContext, wantAttention: boolean): tf.Tensor2D {
    const features = this.forwardFeatures(images, ctx, wantAttention);
    const [b, , d] = features.shape;
    const cls = tf.reshape(tf.slice(features, [0, 0, 0], [b, 1, d]), [b, d]);
    return this.head.forward(this.headDrop.forward(cls, ctx)) as tf.Tensor2D;
  }
}

const vitOptions = z
  .object({
    numClasses: z.number().int().min(1).optional(),
    imgSize: z.union([z.number().int().min(1), z.tuple([z.number().int().min(1), z.number().int().min(1)])]).optional(),
    inChannels: z.number().int().min(1).optional(),
    patchSize: z.number().int().min(1).optional(),
    dropRate: z.number().min(0).lt(1).optional(),
    attnDropRate: z.number().min(0).lt(1).optional(),
    dropPathRate: z.number().min(0).lt(1).optional(),
    seed: z.number().int().optional(),
  })
  .strict();

function deit(name: string, description: string, embedDim: number, numHeads: number): ModelDefinition {
  const defaults: ModelDefaults = {
    inputSize: [224, 224, 3],
    numClasses: 1000,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    interpolation: 'bicubic',
    cropPct: 0.875,
    classifier: 'head',
  };
  return {
    description,
    paper: 'Touvron et al., Training data-efficient image transformers & distillation through attention, ICML 2021',
    defaults,
    create(options: ModelOptions) {
      const o = parseModelOptions(vitOptions, name, options);
      return new VisionTransformer(name, defaults, {
        imgSize: resolveImgSize(o.imgSize, 224),
        patchSize: o.patchSize ?? 16,
        inChannels: o.inChannels ?? 3,
        numClasses: o.numClasses ?? 1000,
        embedDim,
        depth: 12,
        numHeads,
        mlpRatio: 4,
        qkvBias: true,
        dropRate: o.dropRate ?? 0,
        attnDropRate: o.attnDropRate ?? 0,
        dropPathRate: o.dropPathRate ?? 0,
        seed: o.seed ?? 0,
      });
    },
  };
}

export const deitModels: Record<string, ModelDefinition> = {
  deit_tiny_patch16_224: deit('deit_tiny_patch16_224', 'DeiT-Tiny: ViT, 192 wide, 12 blocks, 3 heads, patch 16', 192, 3),
  deit_small_patch16_224: deit('deit_small_patch16_224', 'DeiT-Small: ViT, 384 wide, 12 blocks, 6 heads, patch 16', 384, 6),
  deit_base_patch16_224: deit('deit_base_patch16_224', 'DeiT-Base: ViT, 768 wide, 12 blocks, 12 heads, patch 16', 768, 12),
};
