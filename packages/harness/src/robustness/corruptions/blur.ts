import type { Rng } from '@tessera/core';
import { borderIndex, clippedZoom, correlate1d, filter2d, fromFloat64, gaussianFilter, toFloat64 } from '../image.js';
import { arange } from '../params.js';
import { row, type CorruptionFn } from './types.js';

/**
 * The defocus kernel of make_imagenet_c.py `disk`: a binary disk of the radius on a
 * grid of at least 17×17, normalised, then anti-aliased by OpenCV's GaussianBlur
 * (3×3, or 5×5 above radius 8) with σ `aliasBlur` and the BORDER_REFLECT_101 border.
 */
export function diskKernel(radius: number, aliasBlur: number): { kernel: Float64Array; size: number } {
  const half = radius <= 8 ? 8 : Math.floor(radius);
  const size = 2 * half + 1;
  const disk = new Float64Array(size * size);
  let sum = 0;
  for (let y = -half; y <= half; y++) {
    for (let x = -half; x <= half; x++) {
      const inside = x * x + y * y <= radius * radius ? 1 : 0;
      disk[(y + half) * size + x + half] = inside;
      sum += inside;
    }
  }
  for (let i = 0; i < disk.length; i++) disk[i] = Math.fround(disk[i]! / sum);
  const ksize = radius <= 8 ? 3 : 5;
  const g = new Float64Array(ksize);
  let gs = 0;
  for (let i = 0; i < ksize; i++) {
    const d = i - (ksize - 1) / 2;
    g[i] = Math.exp(-(d * d) / (2 * aliasBlur * aliasBlur));
    gs += g[i]!;
  }
  for (let i = 0; i < ksize; i++) g[i]! /= gs;
  const rows = correlate1d(disk, size, size, 1, g, 0, 'mirror');
  return { kernel: correlate1d(rows, size, size, 1, g, 1, 'mirror'), size };
}

/** A disk-shaped lens blur (`defocus_blur`): each channel correlated with `diskKernel` (cv2.filter2D). */
export const defocusBlur: CorruptionFn = (image, severity, _rng, table) => {
  const [radius, alias] = row(table.defocus_blur, severity);
  const { kernel, size } = diskKernel(radius, alias);
  return fromFloat64(filter2d(toFloat64(image), image.height, image.width, 3, kernel, size), image.height, image.width);
};

/** skimage.filters.gaussian with σ per severity (`gaussian_blur`). */
export const gaussianBlur: CorruptionFn = (image, severity, _rng, table) => {
  const sigma = row(table.gaussian_blur, severity);
  return fromFloat64(gaussianFilter(toFloat64(image), image.height, image.width, 3, sigma), image.height, image.width);
};

/**
 * The pixel shuffle of `glass_blur`: scanning from the bottom-right to the top-left
 * (skipping a `shift`-wide border), each pixel takes the value of a random neighbour
 * (dx, dy) ∈ [−shift, shift)². The reference writes a swap,
 * `x[h, w], x[h', w'] = x[h', w'], x[h, w]`, but numpy evaluates the right side as
 * views, so the neighbour keeps its value: a copy, not a swap. That is what the
 * released datasets contain, and what this reproduces.
 */
export function shufflePixels(x: Float64Array, height: number, width: number, shift: number, iterations: number, rng: Pick<Rng, 'int'>): void {
  for (let it = 0; it < iterations; it++) {
    for (let h = height - shift; h > shift; h--) {
      for (let w = width - shift; w > shift; w--) {
        // numpy randint(-shift, shift, size=(2,)) draws dx first, from [-shift, shift).
        const dx = rng.int(2 * shift) - shift;
        const dy = rng.int(2 * shift) - shift;
        const a = (h * width + w) * 3;
        const b = ((h + dy) * width + (w + dx)) * 3;
        x[a] = x[b]!;
        x[a + 1] = x[b + 1]!;
        x[a + 2] = x[b + 2]!;
      }
    }
  }
}

/**
 * Frosted glass (`glass_blur`, imagecorruptions' size-general loop): blur, quantise to
 * 8 bits, shuffle pixels locally (`shufflePixels`), blur again.
 */
export const glassBlur: CorruptionFn = (image, severity, rng, table) => {
  const [sigma, shift, iterations] = row(table.glass_blur, severity);
  const { height: H, width: W } = image;
  const x = gaussianFilter(toFloat64(image), H, W, 3, sigma);
  for (let i = 0; i < x.length; i++) x[i] = Math.trunc(x[i]! * 255);
  shufflePixels(x, H, W, shift, iterations, rng);
  for (let i = 0; i < x.length; i++) x[i]! /= 255;
  return fromFloat64(gaussianFilter(x, H, W, 3, sigma), H, W);
};

/**
 * imagecorruptions' numpy motion blur (which replaced ImageMagick's
 * MagickMotionBlurImage): a one-sided Gaussian line kernel of width 2·radius+1,
 * applied as edge-clamped shifted copies along `angle` degrees.
 */
export function motionBlurPlanes(src: Float64Array, height: number, width: number, channels: number, radius: number, sigma: number, angle: number): Float64Array {
  const kernelWidth = 2 * radius + 1;
  const weights = new Float64Array(kernelWidth);
  let sum = 0;
  for (let i = 0; i < kernelWidth; i++) {
    weights[i] = Math.exp(-(i * i) / (2 * sigma * sigma)) / (Math.sqrt(2 * Math.PI) * sigma);
    sum += weights[i]!;
  }
  const rad = (angle * Math.PI) / 180;
  const py = kernelWidth * Math.sin(rad);
  const px = kernelWidth * Math.cos(rad);
  const hyp = Math.hypot(py, px);
  const out = new Float64Array(src.length);
  for (let i = 0; i < kernelWidth; i++) {
    // Python's -math.ceil(v - 0.5); `|| 0` turns -0 into 0.
    const dy = -Math.ceil((i * py) / hyp - 0.5) || 0;
    const dx = -Math.ceil((i * px) / hyp - 0.5) || 0;
    if (Math.abs(dy) >= height || Math.abs(dx) >= width) break;
    const w = weights[i]! / sum;
    for (let y = 0; y < height; y++) {
      const sy = borderIndex(y - dy, height, 'nearest');
      for (let x = 0; x < width; x++) {
        const sx = borderIndex(x - dx, width, 'nearest');
        const o = (y * width + x) * channels;
        const s = (sy * width + sx) * channels;
        for (let c = 0; c < channels; c++) out[o + c]! += w * src[s + c]!;
      }
    }
  }
  return out;
}

/** Camera shake along an angle drawn from U(−45°, 45°) (`motion_blur`, imagecorruptions' numpy version). */
export const motionBlur: CorruptionFn = (image, severity, rng, table) => {
  const [radius, sigma] = row(table.motion_blur, severity);
  const angle = -45 + 90 * rng.uniform();
  return fromFloat64(motionBlurPlanes(toFloat64(image), image.height, image.width, 3, radius, sigma, angle), image.height, image.width);
};

/** The mean of the image and its centre zooms by each factor (`zoom_blur`; scipy zoom, order 1). */
export const zoomBlur: CorruptionFn = (image, severity, _rng: Rng, table) => {
  const factors = arange(...row(table.zoom_blur, severity));
  const { height: H, width: W } = image;
  const x = toFloat64(image);
  const acc = Float64Array.from(x);
  for (const z of factors) {
    const layer = clippedZoom(x, H, W, 3, z);
    for (let i = 0; i < acc.length; i++) acc[i]! += layer[i]!;
  }
  for (let i = 0; i < acc.length; i++) acc[i]! /= factors.length + 1;
  return fromFloat64(acc, H, W);
};
