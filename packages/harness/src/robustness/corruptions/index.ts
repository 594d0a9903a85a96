import { InvalidArgumentError, Rng } from '@tessera/core';
import type { RgbImage } from '../image.js';
import { tableFor, type TableName } from '../params.js';
import { defocusBlur, gaussianBlur, glassBlur, motionBlur, zoomBlur } from './blur.js';
import { brightness, contrast, elasticTransform, jpegCompression, pixelate, saturate } from './digital.js';
import { gaussianNoise, impulseNoise, shotNoise, speckleNoise } from './noise.js';
import type { CorruptionFn } from './types.js';
import { fog, frost, snow, spatter } from './weather.js';

/** The 15 corruptions of mCE, in ImageNet-C's canonical order (the order of the AlexNet constants). */
export const COMMON_CORRUPTIONS = [
  'gaussian_noise',
  'shot_noise',
  'impulse_noise',
  'defocus_blur',
  'glass_blur',
  'motion_blur',
  'zoom_blur',
  'snow',
  'frost',
  'fog',
  'brightness',
  'contrast',
  'elastic_transform',
  'pixelate',
  'jpeg_compression',
] as const;

/** The 4 held-out "validation" corruptions (imagecorruptions' get_corruption_names('validation')); not part of mCE. */
export const EXTRA_CORRUPTIONS = ['speckle_noise', 'gaussian_blur', 'spatter', 'saturate'] as const;

export const ALL_CORRUPTIONS = [...COMMON_CORRUPTIONS, ...EXTRA_CORRUPTIONS] as const;
export type CorruptionName = (typeof ALL_CORRUPTIONS)[number];

export const CORRUPTIONS: Readonly<Record<CorruptionName, CorruptionFn>> = {
  gaussian_noise: gaussianNoise,
  shot_noise: shotNoise,
  impulse_noise: impulseNoise,
  defocus_blur: defocusBlur,
  glass_blur: glassBlur,
  motion_blur: motionBlur,
  zoom_blur: zoomBlur,
  snow,
  frost,
  fog,
  brightness,
  contrast,
  elastic_transform: elasticTransform,
  pixelate,
  jpeg_compression: jpegCompression,
  speckle_noise: speckleNoise,
  gaussian_blur: gaussianBlur,
  spatter,
  saturate,
};

export const CORRUPTION_FAMILIES: Readonly<Record<CorruptionName, 'noise' | 'blur' | 'weather' | 'digital'>> = {
  gaussian_noise: 'noise',
  shot_noise: 'noise',
  impulse_noise: 'noise',
  speckle_noise: 'noise',
  defocus_blur: 'blur',
  glass_blur: 'blur',
  motion_blur: 'blur',
  zoom_blur: 'blur',
  gaussian_blur: 'blur',
  snow: 'weather',
  frost: 'weather',
  fog: 'weather',
  spatter: 'weather',
  brightness: 'digital',
  contrast: 'digital',
  elastic_transform: 'digital',
  pixelate: 'digital',
  jpeg_compression: 'digital',
  saturate: 'digital',
};

/** Corruptions without randomness: a pure function of the image and severity (the ones checked against reference fixtures). */
export const DETERMINISTIC_CORRUPTIONS: readonly CorruptionName[] = ['brightness', 'contrast', 'saturate', 'pixelate', 'jpeg_compression', 'gaussian_blur', 'defocus_blur', 'zoom_blur'];

export function isCorruptionName(name: string): name is CorruptionName {
  return (ALL_CORRUPTIONS as readonly string[]).includes(name);
}

/** 'all' | 'common' | 'extra' | a comma-separated list of names, in the order given (duplicates dropped). */
export function parseCorruptionList(text: string, parameter = '--corruptions'): CorruptionName[] {
  const accepted = `all, common, extra, or a comma-separated list of: ${ALL_CORRUPTIONS.join(', ')}`;
  if (typeof text !== 'string' || text.trim() === '') throw new InvalidArgumentError(parameter, text, accepted);
  const out: CorruptionName[] = [];
  for (const part of text.split(',').map((s) => s.trim())) {
    const names: readonly string[] = part === 'all' ? ALL_CORRUPTIONS : part === 'common' ? COMMON_CORRUPTIONS : part === 'extra' ? EXTRA_CORRUPTIONS : [part];
    for (const name of names) {
      if (!isCorruptionName(name)) throw new InvalidArgumentError(parameter, text, accepted);
      if (!out.includes(name)) out.push(name);
    }
  }
  return out;
}

/** '1-5', '3', '1,3,5' or '2-4' → sorted distinct severities in 1..5. */
export function parseSeverities(text: string, parameter = '--severities'): number[] {
  const accepted = "severities in 1..5 as a list or range, e.g. '1-5', '3' or '1,3,5'";
  const set = new Set<number>();
  if (typeof text !== 'string' || text.trim() === '') throw new InvalidArgumentError(parameter, text, accepted);
  for (const part of text.split(',').map((s) => s.trim())) {
    const m = /^([1-5])(?:-([1-5]))?$/.exec(part);
    if (!m) throw new InvalidArgumentError(parameter, text, accepted);
    const lo = Number(m[1]);
    const hi = m[2] ? Number(m[2]) : lo;
    if (hi < lo) throw new InvalidArgumentError(parameter, text, accepted);
    for (let s = lo; s <= hi; s++) set.add(s);
  }
  return [...set].sort((a, b) => a - b);
}

export interface CorruptOptions {
  /** Seed of the corruption's random draws (noise, angles, textures). Default 0. */
  readonly seed?: number;
  /** Force a parameter table; default: CIFAR-10-C for images of 32 px or less, ImageNet-C above. */
  readonly table?: TableName;
}

function checkCorruption(name: unknown): CorruptionName {
  if (typeof name !== 'string' || !isCorruptionName(name)) throw new InvalidArgumentError('corruption', name, `one of ${ALL_CORRUPTIONS.join(', ')}`);
  return name;
}

function checkSeverity(severity: unknown): number {
  if (typeof severity !== 'number' || !Number.isInteger(severity) || severity < 1 || severity > 5) throw new InvalidArgumentError('severity', severity, 'an integer from 1 to 5');
  return severity;
}

function checkSeed(seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new InvalidArgumentError('seed', seed, 'an integer');
  return seed;
}

function checkTable(table: unknown): TableName | undefined {
  if (table !== undefined && table !== 'imagenet' && table !== 'cifar') throw new InvalidArgumentError('table', table, "'imagenet' or 'cifar'");
  return table;
}

/**
 * Corrupts one RGB image (HWC, values in [0, 1]) and returns a new one of the same
 * size. The output is a pure function of (image, name, severity, seed, table).
 */
export function corruptImage(image: RgbImage, name: CorruptionName, severity: number, options: CorruptOptions = {}): RgbImage {
  const corruption = checkCorruption(name);
  checkSeverity(severity);
  const seed = checkSeed(options.seed ?? 0);
  const table = checkTable(options.table);
  if (!image || !Number.isInteger(image.height) || !Number.isInteger(image.width) || image.height < 1 || image.width < 1 || !(image.data instanceof Float32Array) || image.data.length !== image.height * image.width * 3) {
    throw new InvalidArgumentError('image', image && `${image.height}x${image.width} with ${image.data?.length} values`, 'an RgbImage {height, width, data: Float32Array of height·width·3 values in [0, 1]}');
  }
  return CORRUPTIONS[corruption](image, severity, new Rng(seed), tableFor(image.height, image.width, table));
}

/** The seed image `index` of a batch corrupted with `seed` uses, so batch and single-image calls agree. */
export function imageSeed(seed: number, index: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * Corrupts a batch of NHWC float images with values in [0, 1] (C = 3, or 1: a gray
 * image is corrupted as RGB and turned back to gray by its luma). Image i uses
 * seed `imageSeed(seed, i)`. Returns a new array.
 */
export function corruptBatch(data: Float32Array, shape: readonly [number, number, number, number], name: CorruptionName, severity: number, options: CorruptOptions = {}): Float32Array {
  checkCorruption(name);
  checkSeverity(severity);
  const seed = checkSeed(options.seed ?? 0);
  const [n, h, w, c] = shape ?? [];
  if (![n, h, w].every((v) => Number.isInteger(v) && (v as number) >= 1) || (c !== 1 && c !== 3)) throw new InvalidArgumentError('shape', shape, '[batch, height, width, channels] with channels 1 or 3');
  if (!(data instanceof Float32Array) || data.length !== n! * h! * w! * c) throw new InvalidArgumentError('data', data?.length, `a Float32Array of ${n! * h! * w! * c!} values (shape ${shape.join('x')})`);
  const out = new Float32Array(data.length);
  const per = h! * w!;
  for (let i = 0; i < n!; i++) {
    let rgb: Float32Array;
    if (c === 3) rgb = data.slice(i * per * 3, (i + 1) * per * 3);
    else {
      rgb = new Float32Array(per * 3);
      for (let p = 0; p < per; p++) rgb[p * 3] = rgb[p * 3 + 1] = rgb[p * 3 + 2] = data[i * per + p]!;
    }
    const result = corruptImage({ height: h!, width: w!, data: rgb }, name, severity, { ...options, seed: imageSeed(seed, i) });
    if (c === 3) out.set(result.data, i * per * 3);
    else for (let p = 0; p < per; p++) out[i * per + p] = 0.299 * result.data[p * 3]! + 0.587 * result.data[p * 3 + 1]! + 0.114 * result.data[p * 3 + 2]!;
  }
  return out;
}
