import { InvalidArgumentError } from '../errors.js';
import { Rng, scaledNormalValues, truncatedNormalValues } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';
import { initialValuesSkipped } from './deferred-init.js';

/**
 * Deterministic initialisers. Values are drawn in JavaScript from an Rng, so the
 * same seed gives the same weights on every backend. Inside `withoutInitialValues`
 * (deferred-init.ts) the random ones return zeros and draw nothing.
 */
export type Initializer = (shape: number[], rng: Rng) => tf.Tensor;

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The zeros a skipped initialiser returns: `fill` writes them in the backend's own memory (wasm: in its heap), with no host array to copy in. */
const skippedValues = (shape: number[]) => tf.fill(shape, 0);

export const zeros: Initializer = (shape) => tf.zeros(shape);
export const ones: Initializer = (shape) => tf.ones(shape);

/** Every value equal to `value`: LayerScale's γ (1 in FAN, 1e-6 in ConvNeXt and UniFormer-LS), FAN's channel temperature. */
export function constant(value: number): Initializer {
  if (!Number.isFinite(value)) throw new InvalidArgumentError('value', value, 'a finite number');
  return (shape) => tf.fill(shape, value);
}

/** timm's `trunc_normal_(std)`: N(0, std²) cut at ±2 absolute. */
export function truncNormal(std = 0.02): Initializer {
  return (shape, rng) => (initialValuesSkipped() ? skippedValues(shape) : tf.tensor(truncatedNormalValues(rng, sizeOf(shape), std), shape));
}

/**
 * `init`'s values times `factor`, drawn from the same random stream: timm's and FAN's
 * `head_init_scale` (`head.weight.data.mul_(scale)` after the usual initialisation).
 */
export function scaledBy(init: Initializer, factor: number): Initializer {
  if (!Number.isFinite(factor)) throw new InvalidArgumentError('factor', factor, 'a finite number');
  return (shape, rng) => tf.tidy(() => tf.mul(init(shape, rng), factor));
}

/** PyTorch's default for nn.Linear / nn.Conv2d: U(-1/√fanIn, 1/√fanIn) (kaiming_uniform with a = √5). */
export function uniformFanIn(fanIn: number): Initializer {
  const bound = 1 / Math.sqrt(fanIn);
  return (shape, rng) => {
    if (initialValuesSkipped()) return skippedValues(shape);
    const values = new Float32Array(sizeOf(shape));
    for (let i = 0; i < values.length; i++) values[i] = (rng.uniform() * 2 - 1) * bound;
    return tf.tensor(values, shape);
  };
}

/** He/Kaiming normal with fan-out, as timm and the papers' conv stems use: N(0, 2/fanOut). */
export function kaimingNormalFanOut(fanOut: number): Initializer {
  const std = Math.sqrt(2 / fanOut);
  return (shape, rng) => {
    if (initialValuesSkipped()) return skippedValues(shape);
    return tf.tensor(scaledNormalValues(rng, sizeOf(shape), std), shape);
  };
}
