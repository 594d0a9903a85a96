import type { BlockDefinition, ImageSpec, z } from '@tessera/core';
import { GlobalBlock, globalBlockOptions, globalBlockOutputSpec } from './global-block.js';
import { LocalBlock, localBlockOptions, localBlockOutputSpec } from './local-block.js';

/** CBlock: the local relation aggregator, for any image grid in any spec. */
export const localBlock: BlockDefinition<z.infer<typeof localBlockOptions>> = {
  description: "UniFormer's local block (CBlock): DPE, BN → 1×1 → depthwise 5×5 → 1×1 relation aggregator, BN → 1×1-conv MLP (image → image)",
  supports: { positions: ['stage'], dropPath: true, attention: false, dynamicGrid: true, overridable: [] },
  accepts: ['image'],
  options: localBlockOptions,
  examples: [{}, { mlpRatio: 2, dropPath: 0.1 }],
  outputSpec: (input) => localBlockOutputSpec(input),
  create: (input, options, rng) => new LocalBlock(input as ImageSpec, options, rng),
};

/** SABlock: global multi-head self-attention over the flattened grid, with the DPE in front. */
export const globalBlock: BlockDefinition<z.infer<typeof globalBlockOptions>> = {
  description: "UniFormer's global block (SABlock): DPE, then LayerNorm → multi-head self-attention and LayerNorm → MLP over the flattened grid (image → image)",
  supports: { positions: ['stage'], dropPath: true, attention: 'self', dynamicGrid: true, overridable: [] },
  accepts: ['image'],
  options: globalBlockOptions,
  examples: [{ headDim: 8 }, { headDim: 4, mlpRatio: 2, layerScale: 1e-6 }],
  outputSpec: (input, options) => globalBlockOutputSpec(input, options),
  create: (input, options, rng) => new GlobalBlock(input as ImageSpec, options, rng),
};
