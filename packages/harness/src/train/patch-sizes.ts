import { InvalidArgumentError, Rng } from '@tessera/core';

/** FlexiViT's ten patch sizes at 240 px (seqhw 30…5; Beyer et al. 2023 §3.2, big_vision i21k_sup.py). */
export const PAPER_PATCH_SIZES_240 = [8, 10, 12, 15, 16, 20, 24, 30, 40, 48] as const;

/**
 * The patch sizes to train or evaluate at when none are given: the paper's ten at
 * 240 px, otherwise every divisor of the image size that leaves at least a 2×2 grid.
 */
export function defaultPatchSizes(imgSize: number): number[] {
  if (imgSize === 240) return [...PAPER_PATCH_SIZES_240];
  const sizes: number[] = [];
  for (let p = 1; p <= imgSize / 2; p++) if (imgSize % p === 0) sizes.push(p);
  return sizes;
}

/** Reads `--patch-sizes 8,10,12`: distinct integers ≥ 1, each leaving at least one whole patch per axis. */
export function parsePatchSizes(value: string, imgSize?: number): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const sizes = parts.map(Number);
  if (!parts.length || parts.some((s, i) => !/^\d+$/.test(s) || !Number.isSafeInteger(sizes[i]) || sizes[i]! < 1)) {
    throw new InvalidArgumentError('--patch-sizes', value, 'a comma-separated list of integers >= 1, e.g. 8,10,12,15,16');
  }
  if (new Set(sizes).size !== sizes.length) throw new InvalidArgumentError('--patch-sizes', value, 'distinct patch sizes');
  if (imgSize !== undefined) {
    const tooBig = sizes.filter((p) => p > imgSize);
    if (tooBig.length) throw new InvalidArgumentError('--patch-sizes', value, `patch sizes of at most the image size ${imgSize} (not ${tooBig.join(', ')})`);
  }
  return sizes;
}

/** A 32-bit mix of (seed, step) (splitmix32's finaliser), so each step's draw depends on nothing else. */
function mix(seed: number, step: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b9) ^ Math.imul(step | 0, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x21f0aaad);
  h = Math.imul(h ^ (h >>> 15), 0x735a2d97);
  return (h ^ (h >>> 15)) | 0;
}

/**
 * The patch size of optimizer step `step`: one uniform draw for the whole batch
 * from a generator seeded by (seed, step) alone, as big_vision's
 * `np.random.default_rng((xid, wid, step))` (flexi/common.py). A resumed run
 * therefore replays the same sequence without saving any state.
 */
export function drawPatchSize(sizes: readonly number[], seed: number, step: number): number {
  if (!sizes.length) throw new InvalidArgumentError('sizes', sizes, 'at least one patch size');
  return sizes[new Rng(mix(seed, step)).int(sizes.length)]!;
}
