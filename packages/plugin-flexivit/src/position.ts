import { bilinearResizeMatrix, InvalidArgumentError, tf, type Grid } from '@tessera/core';

/**
 * Resizes a learned position embedding [1, h·w, D] (no prefix rows) to another
 * grid as a differentiable linear map, so each training step's resampled copy
 * sends its gradient back to the stored grid (FlexiViT keeps the 7×7 table as
 * the parameter, big_vision `flexi/vit.py` `_Model.__call__`).
 *
 * The filter is half-pixel bilinear. Without antialias it is timm's
 * `resample_abs_pos_embed(..., interpolation='bilinear', antialias=False)`, what
 * timm's FlexiViT checkpoint filter uses. With antialias it is
 * `jax.image.resize(..., 'linear')` as big_vision calls it (antialias on by
 * default): a triangle widened by the shrink factor, the same weights PyTorch's
 * antialiased bilinear uses; enlarging is plain bilinear either way.
 */
export function resampleGridEmbedding(posEmbed: tf.Tensor, from: Grid, to: Grid, antialias: boolean): tf.Tensor3D {
  if (!(posEmbed instanceof tf.Tensor) || posEmbed.rank !== 3 || posEmbed.shape[0] !== 1 || posEmbed.shape[1] !== from.height * from.width) {
    throw new InvalidArgumentError(
      'posEmbed',
      posEmbed instanceof tf.Tensor ? `a tensor of shape [${posEmbed.shape.join(', ')}]` : posEmbed,
      `a [1, ${from.height * from.width}, dim] tensor (the ${from.height}x${from.width} grid)`,
    );
  }
  const dim = posEmbed.shape[2]!;
  if (from.height === to.height && from.width === to.width) return tf.clone(posEmbed) as tf.Tensor3D;
  return tf.tidy(() => {
    const rows = tf.tensor2d(Float32Array.from(bilinearResizeMatrix(from.height, to.height, antialias)), [to.height, from.height]);
    const cols = tf.tensor2d(Float32Array.from(bilinearResizeMatrix(from.width, to.width, antialias)), [to.width, from.width]);
    // Along the height: [th, fh] · [fh, fw·D]; then along the width for each new row, batched.
    const alongHeight = tf.reshape(tf.matMul(rows, tf.reshape(posEmbed, [from.height, from.width * dim])), [to.height, from.width, dim]) as tf.Tensor3D;
    const colsBatch = tf.tile(tf.reshape(cols, [1, to.width, from.width]), [to.height, 1, 1]) as tf.Tensor3D;
    return tf.reshape(tf.matMul(colsBatch, alongHeight), [1, to.height * to.width, dim]) as tf.Tensor3D;
  });
}
