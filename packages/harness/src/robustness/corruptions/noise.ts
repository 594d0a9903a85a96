import type { Rng } from '@tessera/core';
import { fromFloat64, toFloat64, type RgbImage } from '../image.js';
import { row, type CorruptionFn } from './types.js';

/** x + N(0, σ²) per value, clipped (make_imagenet_c.py `gaussian_noise`). */
export const gaussianNoise: CorruptionFn = (image, severity, rng, table) => {
  const sigma = row(table.gaussian_noise, severity);
  const x = toFloat64(image);
  for (let i = 0; i < x.length; i++) x[i]! += sigma * rng.normal();
  return fromFloat64(x, image.height, image.width);
};

/** Photon noise: Poisson(x·c)/c with c photons at full intensity (`shot_noise`). */
export const shotNoise: CorruptionFn = (image, severity, rng, table) => {
  const photons = row(table.shot_noise, severity);
  const x = toFloat64(image);
  for (let i = 0; i < x.length; i++) x[i] = poisson(rng, x[i]! * photons) / photons;
  return fromFloat64(x, image.height, image.width);
};

/**
 * Salt and pepper as skimage `random_noise(mode='s&p', amount)`: each value is hit
 * with probability `amount`, then set to 1 or 0 with equal odds.
 */
export const impulseNoise: CorruptionFn = (image, severity, rng, table) => {
  const amount = row(table.impulse_noise, severity);
  const x = toFloat64(image);
  for (let i = 0; i < x.length; i++) {
    const hit = rng.uniform() < amount;
    const salt = rng.uniform() < 0.5;
    if (hit) x[i] = salt ? 1 : 0;
  }
  return fromFloat64(x, image.height, image.width);
};

/** Multiplicative noise x + x·N(0, σ²) (`speckle_noise`). */
export const speckleNoise: CorruptionFn = (image, severity, rng, table) => {
  const sigma = row(table.speckle_noise, severity);
  const x = toFloat64(image);
  for (let i = 0; i < x.length; i++) x[i]! += x[i]! * sigma * rng.normal();
  return fromFloat64(x, image.height, image.width);
};

const LOG_FACTORIAL: number[] = [0];
for (let k = 1; k < 256; k++) LOG_FACTORIAL.push(LOG_FACTORIAL[k - 1]! + Math.log(k));

function logFactorial(k: number): number {
  if (k < 256) return LOG_FACTORIAL[k]!;
  // Stirling's series, accurate to double precision for k >= 256.
  const x = k + 1;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x ** 3);
}

/** Poisson(λ): Knuth's product method for λ < 10, Hörmann's PTRS transformed rejection (as numpy) above. */
export function poisson(rng: Rng, lambda: number): number {
  if (lambda <= 0) return 0;
  if (lambda < 10) {
    const limit = Math.exp(-lambda);
    let k = 0;
    let p = rng.uniform();
    while (p > limit) {
      k += 1;
      p *= rng.uniform();
    }
    return k;
  }
  const slam = Math.sqrt(lambda);
  const logLam = Math.log(lambda);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invAlpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = rng.uniform() - 0.5;
    const v = rng.uniform();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + Math.log(invAlpha) - Math.log(a / (us * us) + b) <= -lambda + k * logLam - logFactorial(k)) return k;
  }
}
