import { tf } from '../tensor/tf.js';
import { customGrad } from '../ops/gradient.js';
import { wasmGelu, wasmGeluGrad } from '../ops/wasm-gelu.js';

/*
 * Both GELUs carry their own derivative. Autodiff of the composite keeps every
 * intermediate (about five B·N·4d tensors per MLP), which is what pushed
 * DeiT-Tiny training at batch 64 past the 4 GB wasm heap
 * (shared/docs/perf-anchors.md); the custom gradients keep only x.
 */

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const TANH_SCALE = Math.sqrt(2 / Math.PI);
const TANH_CUBIC = 0.044715;

const exactGelu = customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  save([x]);
  return {
    // On wasm one SIMD pass (ops/wasm-gelu.ts); elsewhere the composite.
    value: wasmGelu(x) ?? tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1))),
    // d/dx x·Φ(x) = Φ(x) + x·φ(x)
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const xs = saved[0]!;
      const fused = wasmGeluGrad(xs, dy);
      if (fused) return fused;
      const cdf = tf.mul(tf.add(tf.erf(tf.mul(xs, Math.SQRT1_2)), 1), 0.5);
      const pdf = tf.mul(tf.exp(tf.mul(tf.square(xs), -0.5)), INV_SQRT_2PI);
      return tf.mul(dy, tf.add(cdf, tf.mul(xs, pdf)));
    },
  };
});

const tanhGelu = customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  save([x]);
  return {
    value: tf.tidy(() => {
      const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), TANH_CUBIC)), TANH_SCALE);
      return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
    }),
    // With u = √(2/π)(x + 0.044715x³) and t = tanh u: ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²)
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const xs = saved[0]!;
      const x2 = tf.square(xs);
      const t = tf.tanh(tf.mul(tf.mul(xs, tf.add(tf.mul(x2, TANH_CUBIC), 1)), TANH_SCALE));
      const du = tf.mul(tf.add(tf.mul(x2, 3 * TANH_CUBIC), 1), TANH_SCALE);
      const slope = tf.mul(tf.add(tf.add(t, 1), tf.mul(tf.mul(xs, tf.sub(1, tf.square(t))), du)), 0.5);
      return tf.mul(dy, slope);
    },
  };
});

/** GELU in its exact form, x·Φ(x) = ½x(1 + erf(x/√2)), as PyTorch's nn.GELU() (no tanh approximation). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return exactGelu(x);
}

/** GELU with the tanh approximation, as JAX/big_vision uses by default. */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return tanhGelu(x);
}
