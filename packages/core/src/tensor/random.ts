import { checkNumber, InvalidArgumentError } from '../errors.js';
import { fillNormals } from './normal-values.js';
import { Xoroshiro128Plus } from './xoroshiro128plus.js';

/** A serialisable snapshot of an Rng: store it in a checkpoint, restore it with `Rng.fromState`. */
export interface RngState {
  readonly algorithm: 'xoroshiro128plus';
  readonly state: readonly number[];
}

/**
 * The one source of randomness in Tessera. TensorFlow.js has no global seed, so
 * everything random (initialisation, dropout masks, augmentation parameters, data
 * order) draws from an explicit Rng. Its state can be saved and restored, which is
 * what makes a resumed run reproduce an uninterrupted one.
 */
export class Rng {
  private generator: Xoroshiro128Plus;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new InvalidArgumentError('seed', seed, 'an integer');
    this.generator = Xoroshiro128Plus.fromSeed(seed | 0);
    // xoroshiro's first outputs from a small seed are poorly mixed; burn a few.
    for (let i = 0; i < 16; i++) this.generator.next();
  }

  static fromState(state: RngState): Rng {
    // Four 32-bit words, as getState() writes them (int32; uint32 spellings of the same bits are taken too).
    const words = state?.state;
    if (
      state?.algorithm !== 'xoroshiro128plus' ||
      !Array.isArray(words) ||
      words.length !== 4 ||
      !words.every((w) => Number.isInteger(w) && w >= -0x80000000 && w <= 0xffffffff)
    ) {
      throw new InvalidArgumentError('rng state', state, "an object {algorithm: 'xoroshiro128plus', state: [four 32-bit integers]}");
    }
    const rng = new Rng(0);
    rng.generator = new Xoroshiro128Plus(words[0]! | 0, words[1]! | 0, words[2]! | 0, words[3]! | 0);
    return rng;
  }

  getState(): RngState {
    return { algorithm: 'xoroshiro128plus', state: [...this.generator.getState()] };
  }

  /** An independent stream: a copy of this generator jumped 2^64 steps ahead. This one advances by one draw. */
  fork(): Rng {
    const child = Rng.fromState(this.getState());
    child.generator.jump();
    this.generator.next();
    return child;
  }

  /** Uniform 32-bit unsigned integer. */
  uint32(): number {
    return this.generator.next() >>> 0;
  }

  /** Uniform in [0, 1), 53 random bits. */
  uniform(): number {
    const hi = this.uint32() >>> 5;
    const lo = this.uint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('n', n, 'a positive integer');
    return Math.floor(this.uniform() * n);
  }

  /** An integer seed for a tfjs random op, so its output follows this stream. */
  seed(): number {
    return this.uint32() & 0x7fffffff;
  }

  /** Standard normal, Box–Muller. */
  normal(): number {
    let u = this.uniform();
    while (u <= Number.MIN_VALUE) u = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }

  /** Gamma(shape, 1), Marsaglia–Tsang; shape < 1 through the boost Gamma(a+1)·U^(1/a). */
  gamma(shape: number): number {
    return Math.exp(this.logGamma(shape));
  }

  /**
   * log of a Gamma(shape, 1) draw. Small shapes put almost all mass near 0, where
   * the draw itself underflows to 0; its logarithm does not.
   */
  logGamma(shape: number): number {
    checkNumber('shape', shape, Number.MIN_VALUE, Number.MAX_VALUE);
    if (shape < 1) return this.logGamma(shape + 1) + Math.log(this.uniform() || Number.MIN_VALUE) / shape;
    return Math.log(this.marsagliaTsang(shape));
  }

  private marsagliaTsang(shape: number): number {
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.uniform();
      if (u < 1 - 0.0331 * x ** 4) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Beta(a, b), as X/(X+Y) of two gammas (what numpy and torch sample for Mixup's lambda). */
  beta(a: number, b: number): number {
    checkNumber('alpha', a, Number.MIN_VALUE, Number.MAX_VALUE);
    checkNumber('beta', b, Number.MIN_VALUE, Number.MAX_VALUE);
    // X/(X+Y) = 1/(1 + exp(log Y − log X)), stable even when both draws underflow.
    const logX = this.logGamma(a);
    const logY = this.logGamma(b);
    // For α near the smallest double even the logarithms overflow to −∞; the limit is then a fair coin.
    if (logX === Number.NEGATIVE_INFINITY && logY === Number.NEGATIVE_INFINITY) return this.uniform() < 0.5 ? 0 : 1;
    return 1 / (1 + Math.exp(logY - logX));
  }

  /** A uniformly shuffled copy of `items` (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }
}

/**
 * Samples N(mean, std²) truncated to [a, b] (absolute bounds, as timm's and
 * PyTorch's `trunc_normal_`), by rejection. With timm's defaults (std 0.02, bounds
 * ±2) nothing is ever rejected, exactly as in PyTorch.
 */
export function truncatedNormalValues(rng: Rng, size: number, std: number, mean = 0, a = -2, b = 2): Float32Array {
  if (!(a < b)) throw new InvalidArgumentError('bounds', [a, b], 'a < b');
  const out = new Float32Array(size);
  // Each value is `mean + std * rng.normal()`, redrawn while outside [a, b]; fillNormals draws them in bulk, bit for bit.
  fillNormals(rng['generator'], out, std, mean, a, b, 1000, () => {
    throw new InvalidArgumentError('std', std, 'a spread that puts mass inside [a, b]');
  });
  return out;
}

/** `size` values `std * rng.normal()`, drawn in bulk (the same values and stream as the loop). */
export function scaledNormalValues(rng: Rng, size: number, std: number): Float32Array {
  const out = new Float32Array(size);
  fillNormals(rng['generator'], out, std, undefined, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, () => {
    throw new Error('unreachable: an unbounded normal is never redrawn');
  });
  return out;
}
