import { resamplePosEmbed, type Grid, type tf } from '@tessera/core';

/**
 * Resizes a position embedding [1, P + h·w, D] to another token grid as the
 * official `utils.resize_pos_embed` does when fine-tuning at another resolution:
 * the P prefix rows (the class token) are kept, the grid part is resized
 * bicubically without antialias, as `F.interpolate(mode='bicubic')`. This is
 * core's `resamplePosEmbed` with those settings; unlike the official helper the
 * grids may be non-square. Note that this is not the sinusoid recomputed for the
 * new length; it is what the released fine-tuned checkpoints were made with.
 */
export function resizePosEmbed(posEmbed: tf.Tensor, from: Grid, to: Grid, numPrefixTokens = 1): tf.Tensor3D {
  return resamplePosEmbed(posEmbed, to, { from, numPrefixTokens, interpolation: 'bicubic', antialias: false });
}
