import type { Xoroshiro128Plus } from './xoroshiro128plus.js';

/*
 * Bulk Box–Muller, bit for bit what `Rng.normal()` gives value by value, and faster.
 * Initialising a model draws one normal per weight (86 M for DeiT-Base); per value
 * the cost was four generator calls through an object and the two libm calls
 * (Math.log and Math.cos).
 *
 * Here the generator runs on locals, and log(u) and cos(2πv) come from table-based
 * approximations whose error is far below a float32 step: with a bound δ on how far
 * the approximate value D' can be from the value D the libm path computes in double,
 * whenever D' − δ and D' + δ round to the same float32, D rounds to it too (rounding
 * is monotone), so that float32 is stored. When they do not (under one value in a
 * hundred, where D lies within δ of a float32 rounding boundary), or a bound of the
 * truncation is within δ, the libm path itself computes D. The stored values, the
 * rejections and the generator's final state are therefore those of the
 * value-by-value loop for every seed.
 *
 * Error of D' (u, v the two uniforms, L = log u, R = √(−2L), c = cos 2πv):
 * - L' = e·ln2 + log c_k + log1p(r), with u = m·2^e, m ∈ [0.5, 1), c_k the nearest of
 *   0.5 + k/512 and r = (m − c_k)/c_k, |r| ≤ 2^-9, log1p as its Taylor series to r⁴
 *   (alternating, so the error is below r⁵/5·1.002 ≤ 7.2e-15). All terms are ≤ 0
 *   except log1p(r), which is at most half of |log c_k| when k < 256, so |L| ≥ 9.7e-4
 *   there; when c_k = 1, L = e·ln2 + log1p(r) with both terms ≤ 0 and the error
 *   relative to log1p(r) below r⁴/5 ≤ 2.9e-12. So L' is within 7.5e-12 of L
 *   relative and R' within 3.8e-12 of R relative.
 * - c' = cos(θ_j)·cos x − sin(θ_j)·sin x, θ_j = 2π(j + ½)/256 from Math.cos/sin,
 *   |x| ≤ π/256, cos x to x⁴ (error ≤ x⁶/720 ≤ 3.4e-15) and sin x to x³ (error
 *   ≤ x⁵/120 ≤ 2.4e-12). The table's arguments and Math.cos's own argument fl(2π·v)
 *   are within 7e-16 of exact and libm is within 1 ulp, so |c' − c| ≤ 2.5e-12.
 * - Hence |n' − n| ≤ R·(2.5e-12 + 3.8e-12 + roundings) < R·6.5e-12; δ takes
 *   4e-11·|std|·R' plus 1e-15·|D'| for the last two roundings, six times the bound.
 *   test/random.test.ts measures both approximations' errors against libm.
 */

const TWO_PI = 2 * Math.PI;
/** 2^-53: the uniforms are k·2^-53 for a 53-bit integer k (Rng.uniform). */
const TWO_POW_MINUS_53 = 1 / 9007199254740992;
const TWO_POW_26 = 67108864;

/** log c_k, 1/c_k for c_k = 0.5 + k/512, k = 0..256 (c_256 = 1, log 0 exactly). */
const LOG_CENTRES = new Float64Array(257);
const CENTRES = new Float64Array(257);
const INVERSE_CENTRES = new Float64Array(257);
for (let k = 0; k <= 256; k++) {
  CENTRES[k] = 0.5 + k / 512;
  LOG_CENTRES[k] = Math.log(CENTRES[k]!);
  INVERSE_CENTRES[k] = 1 / CENTRES[k]!;
}
/** 2^t for t = 0..53: scales u = k·2^-53 into [0.5, 1). */
const POWERS_OF_TWO = Float64Array.from({ length: 54 }, (_, t) => 2 ** t);
/** cos and sin at the centres 2π(j + ½)/256 of the 256 slices of a turn. */
const COS_SLICE = new Float64Array(256);
const SIN_SLICE = new Float64Array(256);
for (let j = 0; j < 256; j++) {
  COS_SLICE[j] = Math.cos((TWO_PI * (j + 0.5)) / 256);
  SIN_SLICE[j] = Math.sin((TWO_PI * (j + 0.5)) / 256);
}

/** log(u) for u = hi·2^26 + lo over 2^53, 0 < u < 1, within 7.5e-12 relative (see the header). */
export function approximateLog(hi: number, lo: number): number {
  const u = (hi * TWO_POW_26 + lo) * TWO_POW_MINUS_53;
  const bits = hi !== 0 ? 58 - Math.clz32(hi) : 32 - Math.clz32(lo);
  const m = u * POWERS_OF_TWO[53 - bits]!;
  const k = ((m - 0.5) * 512 + 0.5) | 0;
  const r = (m - CENTRES[k]!) * INVERSE_CENTRES[k]!;
  const log1p = r * (1 + r * (-1 / 2 + r * (1 / 3 - r / 4)));
  return (bits - 53) * Math.LN2 + LOG_CENTRES[k]! + log1p;
}

/** cos(2πv) for v = hi·2^26 + lo over 2^53, within 2.5e-12 absolute (see the header). */
export function approximateCosTurn(hi: number, lo: number): number {
  const j = hi >>> 19;
  const x = (((hi & 0x7ffff) * TWO_POW_26 + lo) * TWO_POW_MINUS_53 - 1 / 512) * TWO_PI;
  const x2 = x * x;
  const cosX = 1 + x2 * (-1 / 2 + x2 / 24);
  const sinX = x * (1 - x2 / 6);
  return COS_SLICE[j]! * cosX - SIN_SLICE[j]! * sinX;
}

/**
 * Fills `out` with `mean + std·n` (or `std·n` when `mean` is undefined) for standard
 * normals n drawn as `Rng.normal()` draws them, redrawing a value outside [a, b] as
 * truncatedNormalValues does (at most `maxTries` draws per value, then `onTooManyTries`
 * throws). Advances `generator` exactly as the value-by-value loop would.
 */
export function fillNormals(
  generator: Xoroshiro128Plus,
  out: Float32Array,
  std: number,
  mean: number | undefined,
  a: number,
  b: number,
  maxTries: number,
  onTooManyTries: () => never,
): void {
  let s00 = generator.s00;
  let s01 = generator.s01;
  let s10 = generator.s10;
  let s11 = generator.s11;
  const withMean = mean !== undefined;
  const shift = mean ?? 0;
  const absStd = Math.abs(std);
  try {
    for (let i = 0; i < out.length; i++) {
      let tries = 0;
      for (;;) {
        // u = uniform(), redrawn while u = 0 (Rng.normal's u <= Number.MIN_VALUE); then v = uniform().
        let uHi = 0;
        let uLo = 0;
        do {
          // Four inlined steps of Xoroshiro128Plus.next(): hi = next() >>> 5, lo = next() >>> 6.
          let a0 = s10 ^ s00;
          let a1 = s11 ^ s01;
          uHi = ((s00 + s10) | 0) >>> 5;
          let t00 = s00;
          s00 = (t00 << 24) ^ (s01 >>> 8) ^ a0 ^ (a0 << 16);
          s01 = (s01 << 24) ^ (t00 >>> 8) ^ a1 ^ ((a1 << 16) | (a0 >>> 16));
          s10 = (a1 << 5) ^ (a0 >>> 27);
          s11 = (a0 << 5) ^ (a1 >>> 27);
          a0 = s10 ^ s00;
          a1 = s11 ^ s01;
          uLo = ((s00 + s10) | 0) >>> 6;
          t00 = s00;
          s00 = (t00 << 24) ^ (s01 >>> 8) ^ a0 ^ (a0 << 16);
          s01 = (s01 << 24) ^ (t00 >>> 8) ^ a1 ^ ((a1 << 16) | (a0 >>> 16));
          s10 = (a1 << 5) ^ (a0 >>> 27);
          s11 = (a0 << 5) ^ (a1 >>> 27);
        } while (uHi === 0 && uLo === 0);
        let a0 = s10 ^ s00;
        let a1 = s11 ^ s01;
        const vHi = ((s00 + s10) | 0) >>> 5;
        let t00 = s00;
        s00 = (t00 << 24) ^ (s01 >>> 8) ^ a0 ^ (a0 << 16);
        s01 = (s01 << 24) ^ (t00 >>> 8) ^ a1 ^ ((a1 << 16) | (a0 >>> 16));
        s10 = (a1 << 5) ^ (a0 >>> 27);
        s11 = (a0 << 5) ^ (a1 >>> 27);
        a0 = s10 ^ s00;
        a1 = s11 ^ s01;
        const vLo = ((s00 + s10) | 0) >>> 6;
        t00 = s00;
        s00 = (t00 << 24) ^ (s01 >>> 8) ^ a0 ^ (a0 << 16);
        s01 = (s01 << 24) ^ (t00 >>> 8) ^ a1 ^ ((a1 << 16) | (a0 >>> 16));
        s10 = (a1 << 5) ^ (a0 >>> 27);
        s11 = (a0 << 5) ^ (a1 >>> 27);

        const radius = Math.sqrt(-2 * approximateLog(uHi, uLo));
        const scaled = std * (radius * approximateCosTurn(vHi, vLo));
        const value = withMean ? shift + scaled : scaled;
        const delta = absStd * radius * 4e-11 + Math.abs(value) * 1e-15;
        const below = value - delta;
        const above = value + delta;
        const rounded = Math.fround(below);
        if (++tries > maxTries) onTooManyTries();
        if (rounded === Math.fround(above) && rounded !== 0 && below >= a && above <= b) {
          out[i] = rounded;
          break;
        }
        // Too close to a float32 rounding boundary or to a bound (or not finite): the libm path decides.
        const u = (uHi * TWO_POW_26 + uLo) * TWO_POW_MINUS_53;
        const v = (vHi * TWO_POW_26 + vLo) * TWO_POW_MINUS_53;
        const n = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
        const exact = withMean ? shift + std * n : std * n;
        if (!(exact < a || exact > b)) {
          out[i] = exact;
          break;
        }
      }
    }
  } finally {
    generator.s00 = s00;
    generator.s01 = s01;
    generator.s10 = s10;
    generator.s11 = s11;
  }
}
