import type { Rng } from '@tessera/core';
import type { RgbImage } from '../image.js';
import type { SeverityTable } from '../params.js';

/**
 * One corruption: a pure function of the image, the severity (1..5), the random
 * stream (seeded by the caller) and the parameter table.
 */
export type CorruptionFn = (image: RgbImage, severity: number, rng: Rng, table: SeverityTable) => RgbImage;

/** The parameter row of a severity (1-based, as the reference code's `c[severity - 1]`). */
export function row<T>(values: readonly T[], severity: number): T {
  return values[severity - 1] as T;
}
