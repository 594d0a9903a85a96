import { checkInteger } from '../errors.js';
import { tf } from '../tensor/tf.js';

/**
 * The fixed 1-D sinusoid table of Vaswani et al. 2017 as T2T-ViT uses it
 * (transformer_block.get_sinusoid_encoding): [1, n, dim] with
 * PE[pos, j] = sin(pos / 10000^(2⌊j/2⌋/dim)) for even j, cos(…) for odd j.
 * Position 0 is the class token. Computed in float64, then rounded once to float32.
 */
export function sinusoidPositionEmbedding(numPositions: number, dim: number): tf.Tensor3D {
  checkInteger('numPositions', numPositions, 1);
  checkInteger('dim', dim, 1);
  const values = new Float32Array(numPositions * dim);
  for (let pos = 0; pos < numPositions; pos++) {
    for (let j = 0; j < dim; j++) {
      const angle = pos / Math.pow(10000, (2 * Math.floor(j / 2)) / dim);
      values[pos * dim + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return tf.tensor3d(values, [1, numPositions, dim]);
}
