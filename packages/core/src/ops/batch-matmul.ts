import { InvalidArgumentError } from '../errors.js';
import { tf } from '../tensor/tf.js';
import { customGrad } from './gradient.js';
import { rawBatchMatMul } from './wasm-batch-matmul.js';

/*
 * Every product here, forward and backward, is a non-transposed batched
 * product (transposes are materialised first with the Transpose kernel, which
 * is a cheap copy): on wasm those run in core's SIMD kernel
 * (wasm-batch-matmul.ts) instead of tfjs-wasm's scalar BatchMatMul loop.
 * Reshapes and the scale live inside the custom op because taped Reshape and
 * Multiply nodes save their inputs, and on wasm each saved tensor is a copy.
 */
function scaledProduct(scale: number) {
  return customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const lead = a.shape.slice(0, -2);
    const batch = lead.reduce((x, y) => x * y, 1);
    const [m, k] = a.shape.slice(-2) as [number, number];
    const n = b.shape[b.rank - 1]!;
    const a3 = tf.reshape(a, [batch, m, k]) as tf.Tensor3D;
    const b3 = tf.reshape(b, [batch, k, n]) as tf.Tensor3D;
    save([a3, b3]);
    const y = rawBatchMatMul(a3, b3);
    return {
      value: tf.reshape(scale === 1 ? y : tf.mul(y, scale), [...lead, m, n]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [as, bs] = saved as [tf.Tensor3D, tf.Tensor3D];
        const dy3 = tf.reshape(scale === 1 ? dy : tf.mul(dy, scale), [batch, m, n]) as tf.Tensor3D;
        const da = rawBatchMatMul(dy3, tf.transpose(bs, [0, 2, 1]));
        const db = rawBatchMatMul(tf.transpose(as, [0, 2, 1]), dy3);
        return [tf.reshape(da, a.shape), tf.reshape(db, b.shape)];
      },
    };
  });
}

const byScale = new Map<number, ReturnType<typeof scaledProduct>>();

function productWithScale(scale: number): ReturnType<typeof scaledProduct> {
  let op = byScale.get(scale);
  if (!op) {
    if (byScale.size > 64) byScale.clear();
    op = scaledProduct(scale);
    byScale.set(scale, op);
  }
  return op;
}

function describe(t: tf.Tensor): string {
  return `tensor of shape [${t.shape.join(', ')}]`;
}

/**
 * Batched matrix product scale·(a·b) (optionally of the transposes) over
 * matching leading axes: a [..., m, k], b [..., k, n] → [..., m, n]. Same values
 * as tf.matMul within float32 rounding; the backward pass stays on the fast
 * path of every backend (on wasm, a SIMD kernel instead of the scalar loop
 * tfjs uses for batched and transposed products).
 */
export function batchMatMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false, scale = 1): tf.Tensor {
  if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new InvalidArgumentError('scale', String(scale), 'a finite number');
  if (a.rank < 3 || a.rank !== b.rank) throw new InvalidArgumentError('b', describe(b), `a tensor of the same rank (>= 3) as a, ${describe(a)}`);
  const lead = a.shape.slice(0, -2);
  if (b.shape.slice(0, -2).some((d, i) => d !== lead[i])) {
    throw new InvalidArgumentError('b', describe(b), `leading axes [${lead.join(', ')}] matching a`);
  }
  const ka = a.shape[transposeA ? a.rank - 2 : a.rank - 1]!;
  const kb = b.shape[transposeB ? b.rank - 1 : b.rank - 2]!;
  if (ka !== kb) throw new InvalidArgumentError('b', describe(b), `an inner dimension of ${ka} to match a (${describe(a)}, transposeA ${transposeA}, transposeB ${transposeB})`);
  const swap = (t: tf.Tensor) => tf.transpose(t, [...t.shape.keys()].map((i, _, all) => (i === all.length - 2 ? all.length - 1 : i === all.length - 1 ? all.length - 2 : i)));
  return tf.tidy(() => productWithScale(scale)(transposeA ? swap(a) : a, transposeB ? swap(b) : b));
}
