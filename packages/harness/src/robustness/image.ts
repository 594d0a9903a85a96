/**
 * Image primitives the corruptions share, each reproducing the semantics of the
 * library call the reference code (hendrycks/robustness `make_imagenet_c.py`,
 * bethgelab/imagecorruptions `corruptions.py`) makes: scipy's gaussian_filter and
 * zoom, OpenCV's filter2D border, skimage's HSV conversion, Pillow's resampling.
 *
 * Images are HWC RGB float arrays with values in [0, 1] (Float32Array for callers,
 * Float64Array inside a corruption where the reference computes in float64).
 */
export interface RgbImage {
  readonly height: number;
  readonly width: number;
  /** height·width·3 values, row-major, channels last. */
  readonly data: Float32Array;
}

export type Plane = Float64Array;

/** Border rules by their scipy names: 'nearest' (aaa|abc|ccc), 'reflect' (cba|abc|cba), 'mirror' (cb|abc|ba, OpenCV's BORDER_REFLECT_101). */
export type Border = 'nearest' | 'reflect' | 'mirror';

export function borderIndex(i: number, n: number, border: Border): number {
  if (i >= 0 && i < n) return i;
  if (n === 1) return 0;
  if (border === 'nearest') return i < 0 ? 0 : n - 1;
  if (border === 'reflect') {
    const period = 2 * n;
    let k = ((i % period) + period) % period;
    if (k >= n) k = period - 1 - k;
    return k;
  }
  const period = 2 * n - 2;
  let k = ((i % period) + period) % period;
  if (k >= n) k = period - k;
  return k;
}

/** scipy.ndimage's Gaussian weights: radius int(truncate·σ + 0.5), normalised to sum 1. */
export function gaussianKernel1d(sigma: number, truncate = 4): Float64Array {
  const radius = Math.floor(truncate * sigma + 0.5);
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp((-0.5 * i * i) / (sigma * sigma));
    k[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  return k;
}

/**
 * Correlates each of `channels` interleaved planes with `kernel` along one axis
 * (0: rows, 1: columns), as scipy.ndimage.correlate1d with the given border.
 */
export function correlate1d(src: Float64Array, height: number, width: number, channels: number, kernel: Float64Array, axis: 0 | 1, border: Border): Float64Array {
  const out = new Float64Array(src.length);
  const taps = kernel.length;
  const r = (taps - 1) >> 1;
  const n = axis === 0 ? height : width;
  const lines = axis === 0 ? width : height;
  const stride = axis === 0 ? width * channels : channels;
  const index = new Int32Array(n + 2 * r);
  for (let i = -r; i < n + r; i++) index[i + r] = borderIndex(i, n, border);
  const padded = new Float64Array(n + 2 * r);
  for (let l = 0; l < lines; l++) {
    for (let c = 0; c < channels; c++) {
      const base = (axis === 0 ? l : l * width) * channels + c;
      for (let i = 0; i < padded.length; i++) padded[i] = src[base + index[i]! * stride]!;
      for (let i = 0; i < n; i++) {
        let acc = 0;
        for (let k = 0; k < taps; k++) acc += kernel[k]! * padded[i + k]!;
        out[base + i * stride] = acc;
      }
    }
  }
  return out;
}

/** skimage.filters.gaussian (scipy gaussian_filter per channel): separable, rows then columns. */
export function gaussianFilter(src: Float64Array, height: number, width: number, channels: number, sigma: number, border: Border = 'nearest', truncate = 4): Float64Array {
  if (sigma <= 0) return Float64Array.from(src);
  const kernel = gaussianKernel1d(sigma, truncate);
  return correlate1d(correlate1d(src, height, width, channels, kernel, 0, border), height, width, channels, kernel, 1, border);
}

/** cv2.filter2D (correlation, anchor at the centre, BORDER_REFLECT_101) of interleaved planes with a square kernel. */
export function filter2d(src: Float64Array, height: number, width: number, channels: number, kernel: Float64Array, size: number): Float64Array {
  const out = new Float64Array(src.length);
  const r = (size - 1) >> 1;
  const pw = width + 2 * r;
  const ph = height + 2 * r;
  const padded = new Float64Array(pw * ph);
  const taps: number[] = [];
  const offsets: number[] = [];
  for (let k = 0; k < size * size; k++) {
    if (kernel[k] === 0) continue;
    taps.push(kernel[k]!);
    offsets.push(Math.floor(k / size) * pw + (k % size));
  }
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < ph; y++) {
      const sy = borderIndex(y - r, height, 'mirror');
      for (let x = 0; x < pw; x++) padded[y * pw + x] = src[(sy * width + borderIndex(x - r, width, 'mirror')) * channels + c]!;
    }
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const origin = y * pw + x;
        let acc = 0;
        for (let t = 0; t < taps.length; t++) acc += taps[t]! * padded[origin + offsets[t]!]!;
        out[(y * width + x) * channels + c] = acc;
      }
    }
  }
  return out;
}

/** In place: RGB → HSV exactly as skimage.color.rgb2hsv (ties of the maximum resolve blue, then green, then red). */
export function rgbToHsv(px: Float64Array): void {
  for (let i = 0; i < px.length; i += 3) {
    const r = px[i]!;
    const g = px[i + 1]!;
    const b = px[i + 2]!;
    const v = Math.max(r, g, b);
    const delta = v - Math.min(r, g, b);
    let h = 0;
    let s = 0;
    if (delta !== 0) {
      s = delta / v;
      if (b === v) h = 4 + (r - g) / delta;
      else if (g === v) h = 2 + (b - r) / delta;
      else h = (g - b) / delta;
      h = (((h / 6) % 1) + 1) % 1;
    }
    px[i] = h;
    px[i + 1] = s;
    px[i + 2] = v;
  }
}

/** In place: HSV → RGB as skimage.color.hsv2rgb. */
export function hsvToRgb(px: Float64Array): void {
  for (let i = 0; i < px.length; i += 3) {
    const h = px[i]!;
    const s = px[i + 1]!;
    const v = px[i + 2]!;
    const hi = Math.floor(h * 6);
    const f = h * 6 - hi;
    const p = v * (1 - s);
    const q = v * (1 - f * s);
    const t = v * (1 - (1 - f) * s);
    // skimage casts hi to uint8 before % 6.
    const sector = (((hi % 256) + 256) % 256) % 6;
    const rgb = [
      [v, t, p],
      [q, v, p],
      [p, v, t],
      [p, q, v],
      [t, p, v],
      [v, p, q],
    ][sector]!;
    px[i] = rgb[0]!;
    px[i + 1] = rgb[1]!;
    px[i + 2] = rgb[2]!;
  }
}

/** OpenCV's RGB2GRAY weights (ITU-R BT.601). */
export function luma(r: number, g: number, b: number): number {
  return 0.299 * r + 0.587 * g + 0.114 * b;
}

/**
 * scipy.ndimage.zoom(order=1) of interleaved planes: the output is round(n·factor)
 * long and output index i samples input coordinate i·(n−1)/(m−1) (grid_mode False).
 */
export function zoomBilinear(src: Float64Array, height: number, width: number, channels: number, factor: number): { data: Float64Array; height: number; width: number } {
  const outH = Math.round(height * factor);
  const outW = Math.round(width * factor);
  const out = new Float64Array(outH * outW * channels);
  const sy = outH > 1 ? (height - 1) / (outH - 1) : 0;
  const sx = outW > 1 ? (width - 1) / (outW - 1) : 0;
  for (let y = 0; y < outH; y++) {
    const fy = y * sy;
    const y0 = Math.min(Math.floor(fy), height - 1);
    const y1 = Math.min(y0 + 1, height - 1);
    const wy = fy - y0;
    for (let x = 0; x < outW; x++) {
      const fx = x * sx;
      const x0 = Math.min(Math.floor(fx), width - 1);
      const x1 = Math.min(x0 + 1, width - 1);
      const wx = fx - x0;
      for (let c = 0; c < channels; c++) {
        const a = src[(y0 * width + x0) * channels + c]!;
        const b = src[(y0 * width + x1) * channels + c]!;
        const d = src[(y1 * width + x0) * channels + c]!;
        const e = src[(y1 * width + x1) * channels + c]!;
        out[(y * outW + x) * channels + c] = (1 - wy) * ((1 - wx) * a + wx * b) + wy * ((1 - wx) * d + wx * e);
      }
    }
  }
  return { data: out, height: outH, width: outW };
}

/**
 * `clipped_zoom` of make_imagenet_c.py: crop the central ceil(n/z) square, zoom it
 * by z (bilinear) and trim the centre back to the input size.
 */
export function clippedZoom(src: Float64Array, height: number, width: number, channels: number, factor: number): Float64Array {
  const ch = Math.ceil(height / factor);
  const cw = Math.ceil(width / factor);
  const top = (height - ch) >> 1;
  const left = (width - cw) >> 1;
  const crop = new Float64Array(ch * cw * channels);
  for (let y = 0; y < ch; y++) crop.set(src.subarray(((top + y) * width + left) * channels, ((top + y) * width + left + cw) * channels), y * cw * channels);
  const zoomed = zoomBilinear(crop, ch, cw, channels, factor);
  const trimTop = (zoomed.height - height) >> 1;
  const trimLeft = (zoomed.width - width) >> 1;
  const out = new Float64Array(height * width * channels);
  for (let y = 0; y < height; y++) {
    const from = ((trimTop + y) * zoomed.width + trimLeft) * channels;
    out.set(zoomed.data.subarray(from, from + width * channels), y * width * channels);
  }
  return out;
}

/** Bilinear sample of interleaved planes at (y, x) with a border rule (scipy map_coordinates, order 1). */
export function sampleBilinear(src: Float64Array, height: number, width: number, channels: number, y: number, x: number, c: number, border: Border): number {
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  const wy = y - y0;
  const wx = x - x0;
  const ya = borderIndex(y0, height, border);
  const yb = borderIndex(y0 + 1, height, border);
  const xa = borderIndex(x0, width, border);
  const xb = borderIndex(x0 + 1, width, border);
  const at = (yy: number, xx: number) => src[(yy * width + xx) * channels + c]!;
  return (1 - wy) * ((1 - wx) * at(ya, xa) + wx * at(ya, xb)) + wy * ((1 - wx) * at(yb, xa) + wx * at(yb, xb));
}

/**
 * Pillow's separable resampling of 8-bit planes (`Image.resize`): per output pixel,
 * the input pixels under the filter's support around the mapped centre, weights
 * normalised, each pass rounded and clipped to 8 bits as Pillow's fixed-point does.
 */
function pilResample1d(src: Float64Array, height: number, width: number, channels: number, outLen: number, axis: 0 | 1, filter: 'box' | 'nearest'): Float64Array {
  const inLen = axis === 0 ? height : width;
  const outH = axis === 0 ? outLen : height;
  const outW = axis === 0 ? width : outLen;
  const out = new Float64Array(outH * outW * channels);
  const scale = inLen / outLen;
  const starts: number[] = [];
  const weights: number[][] = [];
  let nearestPosition = 0.5 * scale;
  for (let o = 0; o < outLen; o++) {
    const center = (o + 0.5) * scale;
    if (filter === 'nearest') {
      // Pillow resizes NEAREST with ImagingScaleAffine (Geometry.c), which steps the source
      // coordinate by repeated addition from scale/2; the rounding of that sum decides ties.
      starts.push(Math.min(Math.trunc(nearestPosition), inLen - 1));
      nearestPosition += scale;
      weights.push([1]);
      continue;
    }
    const filterScale = Math.max(scale, 1);
    const support = 0.5 * filterScale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inLen);
    const w: number[] = [];
    let total = 0;
    for (let i = lo; i < hi; i++) {
      const t = (i - center + 0.5) / filterScale;
      const v = t > -0.5 && t <= 0.5 ? 1 : 0;
      w.push(v);
      total += v;
    }
    starts.push(lo);
    weights.push(w.map((v) => (total ? v / total : 0)));
  }
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const o = axis === 0 ? y : x;
      const w = weights[o]!;
      for (let c = 0; c < channels; c++) {
        let acc = 0;
        for (let k = 0; k < w.length; k++) {
          const i = starts[o]! + k;
          acc += w[k]! * src[(axis === 0 ? i * width + x : y * width + i) * channels + c]!;
        }
        out[(y * outW + x) * channels + c] = Math.min(255, Math.max(0, Math.round(acc)));
      }
    }
  }
  return out;
}

/** Pillow `Image.resize((outW, outH), BOX | NEAREST)` of an 8-bit image held as 0..255 floats (horizontal pass first, as Pillow). */
export function pilResize(src: Float64Array, height: number, width: number, channels: number, outH: number, outW: number, filter: 'box' | 'nearest'): Float64Array {
  let data = src;
  let w = width;
  if (outW !== width) {
    data = pilResample1d(data, height, w, channels, outW, 1, filter);
    w = outW;
  }
  if (outH !== height) data = pilResample1d(data, height, w, channels, outH, 0, filter);
  return data === src ? Float64Array.from(src) : data;
}

export function toFloat64(image: RgbImage): Float64Array {
  return Float64Array.from(image.data);
}

/** Clips to [0, 1] into a new RgbImage of the same size. */
export function fromFloat64(data: Float64Array, height: number, width: number, scale = 1): RgbImage {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]! * scale;
    out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return { height, width, data: out };
}
