import {
  applyTransformerBlocks,
  prependClassToken,
  Dropout,
  dropPathSchedule,
  InvalidArgumentError,
  LayerNorm,
  Linear,
  ModuleList,
  positionEmbeddingInit,
  Rng,
  stageInfo,
  tf,
  TransformerBlock,
  VisionModel,
  type ForwardContext,
  type ModelDefaults,
  type OutputName,
  type StageInfo,
  type TokenSpec,
} from '@tessera/core';
import { sinusoidPositionEmbedding } from './position.js';
import { T2T_SOFT_SPLITS, t2tGrids, T2TModule, type SoftSplit } from './t2t-module.js';

/**
 * Attention scale of the backbone: a number, 'head' (head_dim^-0.5, the default
 * for training from scratch) or 'embed' (embed_dim^-0.5, what every released
 * checkpoint was trained with: the official factories set it when
 * pretrained=True, upstream issue #62).
 */
export type QkScale = number | 'head' | 'embed';

export interface T2TViTArgs {
  readonly imgSize: readonly [number, number];
  readonly inChannels: number;
  readonly numClasses: number;
  readonly tokensType: 'performer' | 'transformer';
  readonly tokenDim: number;
  readonly embedDim: number;
  readonly depth: number;
  readonly numHeads: number;
  readonly mlpRatio: number;
  readonly qkvBias: boolean;
  readonly qkScale: QkScale;
  readonly dropRate: number;
  readonly attnDropRate: number;
  readonly dropPathRate: number;
  /** Dropout inside the T2T performer layers (0.1 in the official code). */
  readonly performerDropRate: number;
  readonly softSplits: readonly SoftSplit[];
  readonly seed: number;
}

export function resolveQkScale(qkScale: QkScale, embedDim: number): number | undefined {
  if (qkScale === 'head') return undefined;
  if (qkScale === 'embed') return embedDim ** -0.5;
  if (typeof qkScale !== 'number' || !Number.isFinite(qkScale) || qkScale <= 0) {
    throw new InvalidArgumentError('qkScale', qkScale, "a positive number, 'head' (head_dim^-0.5) or 'embed' (embed_dim^-0.5, for the released checkpoints)");
  }
  return qkScale;
}

/**
 * T2T-ViT (Yuan et al., ICCV 2021): the Tokens-to-Token module, a class token,
 * a fixed 1-D sinusoid position embedding over [cls, patches] (a frozen parameter,
 * saved and counted as in the official `pos_embed`), pre-norm ViT blocks with
 * LayerNorm eps 1e-5 and no qkv bias, a final norm and a linear head on the class
 * token. State-dict names match the official checkpoints.
 */
export class T2TViT extends VisionModel {
  readonly tokensToToken: T2TModule;
  readonly clsToken: tf.Variable;
  readonly posEmbed: tf.Variable;
  readonly blocks: ModuleList<TransformerBlock>;
  readonly norm: LayerNorm;
  readonly head: Linear;
  private readonly posDrop: Dropout;
  private readonly tokenSpec: TokenSpec;

  constructor(
    name: string,
    defaults: ModelDefaults,
    readonly args: T2TViTArgs,
  ) {
    const [h, w] = args.imgSize;
    super({ ...defaults, name, inputSize: [h, w, args.inChannels], numClasses: args.numClasses }, args.seed);
    const qkScale = resolveQkScale(args.qkScale, args.embedDim);
    if (args.embedDim % args.numHeads !== 0) {
      throw new InvalidArgumentError('numHeads', args.numHeads, `a divisor of embedDim ${args.embedDim}`);
    }
    try {
      t2tGrids(h, w, args.softSplits);
    } catch (error) {
      throw new InvalidArgumentError('imgSize', args.imgSize, `an input the soft splits fit (${(error as Error).message})`);
    }
    const rng = new Rng(args.seed);
    this.tokensToToken = this.addModule(
      'tokens_to_token',
      new T2TModule(
        { layout: 'image', height: h, width: w, channels: args.inChannels },
        {
          embedDim: args.embedDim,
          tokensType: args.tokensType,
          tokenDim: args.tokenDim,
          dropRate: args.performerDropRate,
          softSplits: args.softSplits.map((s) => ({ ...s })),
        },
        rng,
      ),
    );
    const grid = this.tokensToToken.outputGrid;
    this.tokenSpec = { layout: 'tokens', grid, channels: args.embedDim, numPrefixTokens: 1 };
    this.clsToken = this.addParameter('cls_token', positionEmbeddingInit([1, 1, args.embedDim], rng), { weightDecay: false });
    this.posEmbed = this.addParameter('pos_embed', sinusoidPositionEmbedding(1 + grid.height * grid.width, args.embedDim), {
      trainable: false,
      weightDecay: false,
    });
    this.posDrop = new Dropout(args.dropRate);
    this.blocks = this.addModule(
      'blocks',
      new ModuleList(
        dropPathSchedule(args.dropPathRate, args.depth).map(
          (dropPath) =>
            new TransformerBlock(
              this.tokenSpec,
              {
                numHeads: args.numHeads,
                mlpRatio: args.mlpRatio,
                qkvBias: args.qkvBias,
                qkScale,
                dropRate: args.dropRate,
                attnDropRate: args.attnDropRate,
                dropPath,
                normEps: 1e-5,
              },
              rng,
            ),
        ),
      ),
    );
    this.norm = this.addModule('norm', new LayerNorm(args.embedDim, rng, 1e-5));
    this.head = this.addModule('head', new Linear(args.embedDim, args.numClasses, rng));
  }

  get grid(): { height: number; width: number } {
    return this.tokenSpec.grid;
  }

  get availableOutputs(): readonly OutputName[] {
    return this.args.depth > 0 ? ['clsAttention'] : [];
  }

  stages(): StageInfo[] {
    const [h, w, c] = this.config.inputSize;
    const blockParams = [...this.blocks].reduce((n, b) => n + b.numParameters(), 0);
    return [
      stageInfo('input', { layout: 'image', height: h, width: w, channels: c }, 0),
      stageInfo('tokens_to_token', { ...this.tokenSpec, numPrefixTokens: 0 }, this.tokensToToken.numParameters()),
      stageInfo('cls_token + pos_embed (sinusoid, frozen)', this.tokenSpec, this.clsToken.size + this.posEmbed.size),
      stageInfo(`blocks x${this.args.depth}`, this.tokenSpec, blockParams),
      stageInfo('norm + head', { layout: 'vector', channels: this.args.numClasses }, this.norm.numParameters() + this.head.numParameters()),
    ];
  }

  /** Tokens after the final norm [B, 1 + h·w, D]. */
  forwardFeatures(images: tf.Tensor4D, ctx: ForwardContext, wantAttention = false): tf.Tensor3D {
    const patches = this.tokensToToken.tokenize(images, ctx);
    const x = this.posDrop.forward(prependClassToken(this.clsToken, patches, this.posEmbed), ctx) as tf.Tensor3D;
    return this.norm.forward(applyTransformerBlocks(this.blocks, x, ctx, this.tokenSpec, wantAttention)) as tf.Tensor3D;
  }

  protected run(images: tf.Tensor4D, ctx: ForwardContext, wantAttention: boolean): tf.Tensor2D {
    const features = this.forwardFeatures(images, ctx, wantAttention);
    const [b, , d] = features.shape;
    return this.head.forward(tf.reshape(tf.slice(features, [0, 0, 0], [b, 1, d]), [b, d])) as tf.Tensor2D;
  }
}

export const DEFAULT_T2T_ARGS = {
  inChannels: 3,
  numClasses: 1000,
  tokensType: 'performer',
  tokenDim: 64,
  qkvBias: false,
  qkScale: 'head',
  dropRate: 0,
  attnDropRate: 0,
  dropPathRate: 0,
  performerDropRate: 0.1,
  softSplits: T2T_SOFT_SPLITS,
  seed: 0,
} as const satisfies Partial<T2TViTArgs>;
