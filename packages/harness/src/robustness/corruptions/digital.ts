import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import jpeg from 'jpeg-js';
import { fromFloat64, gaussianFilter, hsvToRgb, pilResize, rgbToHsv, sampleBilinear, toFloat64, type RgbImage } from '../image.js';
import { row, type CorruptionFn } from './types.js';

/** +c on the HSV value channel (`brightness`; skimage's HSV conversion). */
export const brightness: CorruptionFn = (image, severity, _rng, table) => {
  const c = row(table.brightness, severity);
  const x = toFloat64(image);
  rgbToHsv(x);
  for (let i = 2; i < x.length; i += 3) x[i] = Math.min(1, Math.max(0, x[i]! + c));
  hsvToRgb(x);
  return fromFloat64(x, image.height, image.width);
};

/** (x − mean)·c + mean with the per-channel mean over the image (`contrast`). */
export const contrast: CorruptionFn = (image, severity, _rng, table) => {
  const c = row(table.contrast, severity);
  const x = toFloat64(image);
  const mean = [0, 0, 0];
  for (let i = 0; i < x.length; i++) mean[i % 3]! += x[i]!;
  const n = x.length / 3;
  for (let i = 0; i < x.length; i++) {
    const m = mean[i % 3]! / n;
    x[i] = (x[i]! - m) * c + m;
  }
  return fromFloat64(x, image.height, image.width);
};

/** S·c0 + c1 on the HSV saturation channel (`saturate`). */
export const saturate: CorruptionFn = (image, severity, _rng, table) => {
  const [scale, shift] = row(table.saturate, severity);
  const x = toFloat64(image);
  rgbToHsv(x);
  for (let i = 1; i < x.length; i += 3) x[i] = Math.min(1, Math.max(0, x[i]! * scale + shift));
  hsvToRgb(x);
  return fromFloat64(x, image.height, image.width);
};

/**
 * libjpeg's 4:2:0 chroma path, which Pillow uses by default and jpeg-js lacks:
 * JFIF RGB → YCbCr, chroma averaged over 2×2 blocks (jcsample.c h2v2_downsample),
 * brought back with the triangle "fancy" upsampling of jdsample.c
 * (9·nearest + 3·row neighbour + 3·column neighbour + 1·diagonal)/16, back to RGB.
 * Returned as 8-bit RGBA for the encoder.
 */
function subsampleChromaRgba(image: RgbImage): Uint8Array {
  const { height: H, width: W, data } = image;
  const h2 = Math.ceil(H / 2);
  const w2 = Math.ceil(W / 2);
  const y = new Float64Array(H * W);
  const cb = new Float64Array(h2 * w2);
  const cr = new Float64Array(h2 * w2);
  const count = new Float64Array(h2 * w2);
  for (let yy = 0; yy < H; yy++) {
    for (let xx = 0; xx < W; xx++) {
      const p = (yy * W + xx) * 3;
      const r = Math.round(data[p]! * 255);
      const g = Math.round(data[p + 1]! * 255);
      const b = Math.round(data[p + 2]! * 255);
      y[yy * W + xx] = 0.299 * r + 0.587 * g + 0.114 * b;
      const q = (yy >> 1) * w2 + (xx >> 1);
      cb[q]! += -0.168736 * r - 0.331264 * g + 0.5 * b + 128;
      cr[q]! += 0.5 * r - 0.418688 * g - 0.081312 * b + 128;
      count[q]! += 1;
    }
  }
  for (let q = 0; q < count.length; q++) {
    cb[q]! /= count[q]!;
    cr[q]! /= count[q]!;
  }
  const rgba = new Uint8Array(H * W * 4);
  const clampIndex = (i: number, n: number) => (i < 0 ? 0 : i >= n ? n - 1 : i);
  for (let yy = 0; yy < H; yy++) {
    const cy = yy >> 1;
    const ny = clampIndex(yy % 2 === 0 ? cy - 1 : cy + 1, h2);
    for (let xx = 0; xx < W; xx++) {
      const cx = xx >> 1;
      const nx = clampIndex(xx % 2 === 0 ? cx - 1 : cx + 1, w2);
      const up = (plane: Float64Array) => (9 * plane[cy * w2 + cx]! + 3 * plane[ny * w2 + cx]! + 3 * plane[cy * w2 + nx]! + plane[ny * w2 + nx]!) / 16;
      const l = y[yy * W + xx]!;
      const u = up(cb) - 128;
      const v = up(cr) - 128;
      const o = (yy * W + xx) * 4;
      rgba[o] = Math.min(255, Math.max(0, Math.round(l + 1.402 * v)));
      rgba[o + 1] = Math.min(255, Math.max(0, Math.round(l - 0.344136 * u - 0.714136 * v)));
      rgba[o + 2] = Math.min(255, Math.max(0, Math.round(l + 1.772 * u)));
      rgba[o + 3] = 255;
    }
  }
  return rgba;
}

function toRgba(image: RgbImage): Uint8Array {
  const rgba = new Uint8Array(image.height * image.width * 4);
  for (let p = 0, q = 0; p < image.data.length; p += 3, q += 4) {
    rgba[q] = Math.round(image.data[p]! * 255);
    rgba[q + 1] = Math.round(image.data[p + 1]! * 255);
    rgba[q + 2] = Math.round(image.data[p + 2]! * 255);
    rgba[q + 3] = 255;
  }
  return rgba;
}

interface JpegEncoder {
  encode(image: { data: Uint8Array; width: number; height: number }, quality: number): Uint8Array;
}
let JpegEncoderClass: (new (quality: number) => JpegEncoder) | undefined;
const encoders = new Map<number, JpegEncoder>();

/**
 * A jpeg-js encoder for one quality, kept for reuse. `jpeg.encode` builds a new
 * encoder per call, and its table set-up costs ~140 ms, 75 times the encode of a
 * 32-px image; the constructor is not exported, so it is taken from the library's
 * own encoder module (the test checks the bytes equal `jpeg.encode`'s).
 */
export function jpegEncoder(quality: number): JpegEncoder {
  let encoder = encoders.get(quality);
  if (!encoder) {
    if (!JpegEncoderClass) {
      const require = createRequire(import.meta.url);
      const source = readFileSync(require.resolve('jpeg-js/lib/encoder.js'), 'utf8');
      JpegEncoderClass = new Function('module', 'require', `${source}\nreturn JPEGEncoder;`)({}, require) as new (quality: number) => JpegEncoder;
    }
    encoder = new JpegEncoderClass(quality);
    encoders.set(quality, encoder);
  }
  return encoder;
}

/**
 * Encodes and decodes with jpeg-js, a pure-JS baseline codec with libjpeg's quality
 * scaling of the standard tables. jpeg-js itself writes 4:4:4; '4:2:0' first applies
 * libjpeg's chroma subsampling round trip (`subsampleChromaRgba`), Pillow's default.
 */
export function jpegRoundTrip(image: RgbImage, quality: number, chroma: '4:2:0' | '4:4:4' = '4:2:0'): RgbImage {
  const rgba = chroma === '4:2:0' ? subsampleChromaRgba(image) : toRgba(image);
  const encoded = jpegEncoder(quality).encode({ data: rgba, width: image.width, height: image.height }, quality);
  const decoded = jpeg.decode(encoded, { useTArray: true, formatAsRGBA: true });
  const out = new Float32Array(image.height * image.width * 3);
  for (let p = 0, q = 0; p < out.length; p += 3, q += 4) {
    out[p] = decoded.data[q]! / 255;
    out[p + 1] = decoded.data[q + 1]! / 255;
    out[p + 2] = decoded.data[q + 2]! / 255;
  }
  return { height: image.height, width: image.width, data: out };
}

/**
 * A JPEG round trip at the severity's quality (`jpeg_compression`: Pillow's
 * `save(..., 'JPEG', quality)` with its default 4:2:0 chroma). Not bit-identical to
 * libjpeg: the fixture test states how close it is.
 */
export const jpegCompression: CorruptionFn = (image, severity, _rng, table) => jpegRoundTrip(image, row(table.jpeg_compression, severity), '4:2:0');

/**
 * Pillow BOX downscale to int(side·c), then back up with NEAREST (`pixelate`, as
 * imagecorruptions; the original upsamples with BOX, which picks the same source
 * pixel except where a centre falls exactly on a pixel edge). 8-bit throughout, as Pillow.
 */
export const pixelate: CorruptionFn = (image, severity, _rng, table) => {
  const c = row(table.pixelate, severity);
  const { height: H, width: W } = image;
  const x = toFloat64(image);
  for (let i = 0; i < x.length; i++) x[i] = Math.round(x[i]! * 255);
  const small = pilResize(x, H, W, 3, Math.max(1, Math.trunc(H * c)), Math.max(1, Math.trunc(W * c)), 'box');
  const back = pilResize(small, Math.max(1, Math.trunc(H * c)), Math.max(1, Math.trunc(W * c)), 3, H, W, 'nearest');
  return fromFloat64(back, H, W, 1 / 255);
};

/** Solves the 2×3 affine map taking three source points to three destination points (cv2.getAffineTransform). */
function affineFromPoints(src: number[][], dst: number[][]): number[] {
  // Rows [x y 1] · [a b c]^T = x', solved by Cramer's rule for each output coordinate.
  const [p0, p1, p2] = src as [number[], number[], number[]];
  const det = p0[0]! * (p1[1]! - p2[1]!) - p0[1]! * (p1[0]! - p2[0]!) + (p1[0]! * p2[1]! - p2[0]! * p1[1]!);
  const solve = (v: number[]) => {
    const [v0, v1, v2] = v as [number, number, number];
    const a = (v0 * (p1[1]! - p2[1]!) - p0[1]! * (v1 - v2) + (v1 * p2[1]! - v2 * p1[1]!)) / det;
    const b = (p0[0]! * (v1 - v2) - v0 * (p1[0]! - p2[0]!) + (p1[0]! * v2 - p2[0]! * v1)) / det;
    const c = (p0[0]! * (p1[1]! * v2 - p2[1]! * v1) - p0[1]! * (p1[0]! * v2 - p2[0]! * v1) + v0 * (p1[0]! * p2[1]! - p2[0]! * p1[1]!)) / det;
    return [a, b, c];
  };
  return [...solve(dst.map((p) => p[0]!)), ...solve(dst.map((p) => p[1]!))];
}

/**
 * make_imagenet_c.py `elastic_transform`: a random affine jitter of three anchor
 * points (cv2.warpAffine, bilinear, BORDER_REFLECT_101), then a displacement field
 * of uniform noise smoothed by a Gaussian (σ, truncate 3, reflect) scaled by α,
 * sampled bilinearly with scipy's 'reflect' border. α, σ and the jitter scale with
 * the image side (the table's factors × side × elasticScale).
 */
export const elasticTransform: CorruptionFn = (image, severity, rng, table) => {
  const { height: H, width: W } = image;
  const side = Math.min(H, W) * table.elasticScale;
  const [alphaF, sigmaF, affineF] = row(table.elastic_transform, severity);
  const alpha = alphaF * side;
  const sigma = sigmaF * side;
  const jitter = affineF * side;
  const x = toFloat64(image);

  const center = [Math.floor(H / 2), Math.floor(W / 2)] as const;
  const square = Math.floor(Math.min(H, W) / 3);
  const pts1 = [
    [center[0] + square, center[1] + square],
    [center[0] + square, center[1] - square],
    [center[0] - square, center[1] - square],
  ];
  const pts2 = pts1.map((p) => p.map((v) => v + Math.fround(-jitter + 2 * jitter * rng.uniform())));
  // warpAffine samples the source at M⁻¹·(x, y): solve for the map from pts2 back to pts1.
  const inv = affineFromPoints(pts2, pts1);
  const warped = new Float64Array(x.length);
  for (let y = 0; y < H; y++) {
    for (let xx = 0; xx < W; xx++) {
      const sx = inv[0]! * xx + inv[1]! * y + inv[2]!;
      const sy = inv[3]! * xx + inv[4]! * y + inv[5]!;
      for (let c = 0; c < 3; c++) warped[(y * W + xx) * 3 + c] = sampleBilinear(x, H, W, 3, sy, sx, c, 'mirror');
    }
  }
  const field = () => {
    const noise = new Float64Array(H * W);
    for (let i = 0; i < noise.length; i++) noise[i] = -1 + 2 * rng.uniform();
    const smooth = sigma > 0 ? gaussianFilter(noise, H, W, 1, sigma, 'reflect', 3) : noise;
    for (let i = 0; i < smooth.length; i++) smooth[i] = Math.fround(smooth[i]! * alpha);
    return smooth;
  };
  const dx = field();
  const dy = field();
  const out = new Float64Array(x.length);
  for (let y = 0; y < H; y++) {
    for (let xx = 0; xx < W; xx++) {
      const p = y * W + xx;
      for (let c = 0; c < 3; c++) out[p * 3 + c] = sampleBilinear(warped, H, W, 3, y + dy[p]!, xx + dx[p]!, c, 'reflect');
    }
  }
  return fromFloat64(out, H, W);
};
