/**
 * Severity parameters, severities 1..5 in order, of ImageNet-C
 * (hendrycks/robustness `ImageNet-C/create_c/make_imagenet_c.py`) and CIFAR-10-C
 * (`make_cifar_c.py`). Where bethgelab/imagecorruptions generalised a corruption to
 * any image size (fog's map size, frost's crop, the elastic grid), the size enters
 * the corruption itself, not these tables.
 */
export interface SeverityTable {
  readonly gaussian_noise: readonly number[];
  readonly shot_noise: readonly number[];
  readonly impulse_noise: readonly number[];
  readonly speckle_noise: readonly number[];
  /** (disk radius, alias-blur σ) */
  readonly defocus_blur: ReadonlyArray<readonly [number, number]>;
  /** (Gaussian σ, max pixel shift, iterations) */
  readonly glass_blur: ReadonlyArray<readonly [number, number, number]>;
  /** (radius, σ) of the line kernel */
  readonly motion_blur: ReadonlyArray<readonly [number, number]>;
  /** (start, stop exclusive, step) of the zoom factors averaged, as numpy.arange */
  readonly zoom_blur: ReadonlyArray<readonly [number, number, number]>;
  readonly gaussian_blur: readonly number[];
  /** (loc, scale, zoom, threshold, blur radius, blur σ, blend) */
  readonly snow: ReadonlyArray<readonly [number, number, number, number, number, number, number]>;
  /** (image weight, frost weight) */
  readonly frost: ReadonlyArray<readonly [number, number]>;
  /** (strength, plasma wibble decay) */
  readonly fog: ReadonlyArray<readonly [number, number]>;
  /** (loc, scale, σ, threshold, intensity, mode 0 water / 1 mud) */
  readonly spatter: ReadonlyArray<readonly [number, number, number, number, number, number]>;
  readonly brightness: readonly number[];
  readonly contrast: readonly number[];
  /** (S·c0 + c1) */
  readonly saturate: ReadonlyArray<readonly [number, number]>;
  readonly jpeg_compression: readonly number[];
  readonly pixelate: readonly number[];
  /**
   * (α, σ, affine jitter) as fractions of `elasticScale`·side: ImageNet-C multiplies
   * by 244 for 224-px images ("244 should have been 224" in the source), CIFAR-10-C by 32.
   */
  readonly elastic_transform: ReadonlyArray<readonly [number, number, number]>;
  /** ImageNet-C: 244/224 (the constant 244 at its 224-px size); CIFAR-10-C: 1. */
  readonly elasticScale: number;
}

export const IMAGENET_C: SeverityTable = {
  gaussian_noise: [0.08, 0.12, 0.18, 0.26, 0.38],
  shot_noise: [60, 25, 12, 5, 3],
  impulse_noise: [0.03, 0.06, 0.09, 0.17, 0.27],
  speckle_noise: [0.15, 0.2, 0.35, 0.45, 0.6],
  defocus_blur: [[3, 0.1], [4, 0.5], [6, 0.5], [8, 0.5], [10, 0.5]],
  glass_blur: [[0.7, 1, 2], [0.9, 2, 1], [1, 2, 3], [1.1, 3, 2], [1.5, 4, 2]],
  motion_blur: [[10, 3], [15, 5], [15, 8], [15, 12], [20, 15]],
  zoom_blur: [[1, 1.11, 0.01], [1, 1.16, 0.01], [1, 1.21, 0.02], [1, 1.26, 0.02], [1, 1.31, 0.03]],
  gaussian_blur: [1, 2, 3, 4, 6],
  snow: [
    [0.1, 0.3, 3, 0.5, 10, 4, 0.8],
    [0.2, 0.3, 2, 0.5, 12, 4, 0.7],
    [0.55, 0.3, 4, 0.9, 12, 8, 0.7],
    [0.55, 0.3, 4.5, 0.85, 12, 8, 0.65],
    [0.55, 0.3, 2.5, 0.85, 12, 12, 0.55],
  ],
  frost: [[1, 0.4], [0.8, 0.6], [0.7, 0.7], [0.65, 0.7], [0.6, 0.75]],
  fog: [[1.5, 2], [2, 2], [2.5, 1.7], [2.5, 1.5], [3, 1.4]],
  spatter: [
    [0.65, 0.3, 4, 0.69, 0.6, 0],
    [0.65, 0.3, 3, 0.68, 0.6, 0],
    [0.65, 0.3, 2, 0.68, 0.5, 0],
    [0.65, 0.3, 1, 0.65, 1.5, 1],
    [0.67, 0.4, 1, 0.65, 1.5, 1],
  ],
  brightness: [0.1, 0.2, 0.3, 0.4, 0.5],
  contrast: [0.4, 0.3, 0.2, 0.1, 0.05],
  saturate: [[0.3, 0], [0.1, 0], [2, 0], [5, 0.1], [20, 0.2]],
  jpeg_compression: [25, 18, 15, 10, 7],
  pixelate: [0.6, 0.5, 0.4, 0.3, 0.25],
  elastic_transform: [[2, 0.7, 0.1], [2, 0.08, 0.2], [0.05, 0.01, 0.02], [0.07, 0.01, 0.02], [0.12, 0.01, 0.02]],
  elasticScale: 244 / 224,
};

export const CIFAR10_C: SeverityTable = {
  gaussian_noise: [0.04, 0.06, 0.08, 0.09, 0.1],
  shot_noise: [500, 250, 100, 75, 50],
  impulse_noise: [0.01, 0.02, 0.03, 0.05, 0.07],
  speckle_noise: [0.06, 0.1, 0.12, 0.16, 0.2],
  defocus_blur: [[0.3, 0.4], [0.4, 0.5], [0.5, 0.6], [1, 0.2], [1.5, 0.1]],
  glass_blur: [[0.05, 1, 1], [0.25, 1, 1], [0.4, 1, 1], [0.25, 1, 2], [0.4, 1, 2]],
  motion_blur: [[6, 1], [6, 1.5], [6, 2], [8, 2], [9, 2.5]],
  zoom_blur: [[1, 1.06, 0.01], [1, 1.11, 0.01], [1, 1.16, 0.01], [1, 1.21, 0.01], [1, 1.26, 0.01]],
  gaussian_blur: [0.4, 0.6, 0.7, 0.8, 1],
  snow: [
    [0.1, 0.2, 1, 0.6, 8, 3, 0.95],
    [0.1, 0.2, 1, 0.5, 10, 4, 0.9],
    [0.15, 0.3, 1.75, 0.55, 10, 4, 0.9],
    [0.25, 0.3, 2.25, 0.6, 12, 6, 0.85],
    [0.3, 0.3, 1.25, 0.65, 14, 12, 0.8],
  ],
  frost: [[1, 0.2], [1, 0.3], [0.9, 0.4], [0.85, 0.4], [0.75, 0.45]],
  fog: [[0.2, 3], [0.5, 3], [0.75, 2.5], [1, 2], [1.5, 1.75]],
  spatter: [
    [0.62, 0.1, 0.7, 0.7, 0.5, 0],
    [0.65, 0.1, 0.8, 0.7, 0.5, 0],
    [0.65, 0.3, 1, 0.69, 0.5, 0],
    [0.65, 0.1, 0.7, 0.69, 0.6, 1],
    [0.65, 0.1, 0.5, 0.68, 0.6, 1],
  ],
  brightness: [0.05, 0.1, 0.15, 0.2, 0.3],
  contrast: [0.75, 0.5, 0.4, 0.3, 0.15],
  saturate: [[0.3, 0], [0.1, 0], [1.5, 0], [2, 0.1], [2.5, 0.2]],
  jpeg_compression: [80, 65, 58, 50, 40],
  pixelate: [0.95, 0.9, 0.85, 0.75, 0.65],
  elastic_transform: [[0, 0, 0.08], [0.05, 0.2, 0.07], [0.08, 0.06, 0.06], [0.1, 0.04, 0.05], [0.1, 0.03, 0.03]],
  elasticScale: 1,
};

export type TableName = 'imagenet' | 'cifar';

/** CIFAR-10-C's weaker table for images of 32 px or less (its native size), ImageNet-C's above. */
export function tableFor(height: number, width: number, forced?: TableName): SeverityTable {
  const name = forced ?? (Math.max(height, width) <= 32 ? 'cifar' : 'imagenet');
  return name === 'cifar' ? CIFAR10_C : IMAGENET_C;
}

/** numpy.arange(start, stop, step) with numpy's length rule ceil((stop − start)/step). */
export function arange(start: number, stop: number, step: number): number[] {
  const n = Math.ceil((stop - start) / step);
  return Array.from({ length: n }, (_, i) => start + i * step);
}
