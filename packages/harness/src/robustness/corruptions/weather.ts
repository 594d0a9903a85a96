import type { Rng } from '@tessera/core';
import { borderIndex, clippedZoom, fromFloat64, gaussianFilter, luma, toFloat64 } from '../image.js';
import { motionBlurPlanes } from './blur.js';
import { row, type CorruptionFn } from './types.js';

/**
 * The diamond-square height map of make_imagenet_c.py `plasma_fractal` (after
 * FLHerne/mapgen): `mapSize`² values in [0, 1], the random offset shrinking by
 * `wibbleDecay` at each halving of the step.
 */
export function plasmaFractal(rng: Rng, mapSize: number, wibbleDecay: number): Float64Array {
  const n = mapSize;
  const map = new Float64Array(n * n);
  let step = n;
  let wibble = 100;
  const jitter = () => wibble * (-wibble + 2 * wibble * rng.uniform());
  while (step >= 2) {
    const half = step >> 1;
    const cells = n / step;
    const at = (y: number, x: number) => map[y * n + x]!;
    // Squares: the centre of each cell is the mean of its four corners plus noise (corners wrap around).
    const squares = new Float64Array(cells * cells);
    for (let i = 0; i < cells; i++) {
      for (let j = 0; j < cells; j++) {
        const i1 = ((i + 1) % cells) * step;
        const j1 = ((j + 1) % cells) * step;
        squares[i * cells + j] = at(i * step, j * step) + at(i1, j * step) + at(i * step, j1) + at(i1, j1);
      }
    }
    for (let i = 0; i < cells; i++) for (let j = 0; j < cells; j++) map[(i * step + half) * n + j * step + half] = squares[i * cells + j]! / 4 + jitter();
    // Diamonds: edge midpoints from the two neighbouring centres and the two corners along the edge.
    const top = new Float64Array(cells * cells);
    const left = new Float64Array(cells * cells);
    for (let i = 0; i < cells; i++) {
      for (let j = 0; j < cells; j++) {
        const centre = at(i * step + half, j * step + half);
        const up = at(((i - 1 + cells) % cells) * step + half, j * step + half);
        const west = at(i * step + half, ((j - 1 + cells) % cells) * step + half);
        top[i * cells + j] = centre + up + at(i * step, j * step) + at(i * step, ((j + 1) % cells) * step);
        left[i * cells + j] = centre + west + at(i * step, j * step) + at(((i + 1) % cells) * step, j * step);
      }
    }
    for (let i = 0; i < cells; i++) for (let j = 0; j < cells; j++) map[i * step * n + j * step + half] = top[i * cells + j]! / 4 + jitter();
    for (let i = 0; i < cells; i++) for (let j = 0; j < cells; j++) map[(i * step + half) * n + j * step] = left[i * cells + j]! / 4 + jitter();
    step = half;
    wibble /= wibbleDecay;
  }
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of map) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  for (let i = 0; i < map.length; i++) map[i] = (map[i]! - min) / (max - min || 1);
  return map;
}

const nextPowerOfTwo = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/** A plasma-fractal haze (`fog`): x + s·plasma, rescaled by max/(max + s). Map size: the next power of two of the side (imagecorruptions). */
export const fog: CorruptionFn = (image, severity, rng, table) => {
  const [strength, decay] = row(table.fog, severity);
  const { height: H, width: W } = image;
  const size = nextPowerOfTwo(Math.max(H, W));
  const plasma = plasmaFractal(rng, size, decay);
  const x = toFloat64(image);
  let max = 0;
  for (const v of x) max = Math.max(max, v);
  for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) for (let c = 0; c < 3; c++) x[(y * W + xx) * 3 + c]! += strength * plasma[y * size + xx]!;
  for (let i = 0; i < x.length; i++) x[i] = (x[i]! * max) / (max + strength);
  return fromFloat64(x, H, W);
};

/**
 * Falling snow (`snow`, imagecorruptions' numpy version): a thresholded, zoomed
 * Gaussian flake layer motion-blurred along U(−135°, −45°), quantised to 8 bits,
 * added with its 180° rotation to an image brightened towards 1.5·gray + 0.5.
 */
export const snow: CorruptionFn = (image, severity, rng, table) => {
  const [loc, scale, zoom, threshold, radius, sigma, blend] = row(table.snow, severity);
  const { height: H, width: W } = image;
  let layer: Float64Array<ArrayBufferLike> = new Float64Array(H * W);
  for (let i = 0; i < layer.length; i++) layer[i] = loc + scale * rng.normal();
  layer = clippedZoom(layer, H, W, 1, zoom);
  for (let i = 0; i < layer.length; i++) layer[i] = layer[i]! < threshold ? 0 : Math.min(1, layer[i]!);
  const angle = -135 + 90 * rng.uniform();
  layer = motionBlurPlanes(layer, H, W, 1, radius, sigma, angle);
  for (let i = 0; i < layer.length; i++) layer[i] = Math.round(layer[i]! * 255) / 255;
  const x = toFloat64(image);
  for (let p = 0; p < H * W; p++) {
    const gray = luma(x[p * 3]!, x[p * 3 + 1]!, x[p * 3 + 2]!) * 1.5 + 0.5;
    const flakes = layer[p]! + layer[H * W - 1 - p]!;
    for (let c = 0; c < 3; c++) {
      const v = x[p * 3 + c]!;
      x[p * 3 + c] = blend * v + (1 - blend) * Math.max(v, gray) + flakes;
    }
  }
  return fromFloat64(x, H, W);
};

/**
 * A procedural frost texture in [0, 1]: a plasma haze with branching ice needles
 * (random walks that fork, drawn additively, then softened), its mean and spread
 * matched to the frost photographs ImageNet-C overlays. Those photographs' licence
 * is not stated in hendrycks/robustness, so Tessera draws its own (a documented
 * deviation: the texture differs, its brightness statistics do not).
 */
export function frostTexture(rng: Rng, height: number, width: number): Float64Array {
  const size = nextPowerOfTwo(Math.max(height, width));
  const haze = plasmaFractal(rng, size, 1.6);
  const needles = new Float64Array(height * width);
  const scale = Math.max(height, width);
  const seeds = Math.max(4, Math.round((height * width) / 160));
  const maxLength = Math.max(4, scale / 6);
  const stack: Array<[number, number, number, number, number]> = [];
  for (let s = 0; s < seeds; s++) stack.push([rng.uniform() * height, rng.uniform() * width, rng.uniform() * 2 * Math.PI, maxLength * (0.4 + 0.6 * rng.uniform()), 0.5 + 0.5 * rng.uniform()]);
  let strokes = 0;
  while (stack.length && strokes < seeds * 12) {
    const [y0, x0, angle, length, intensity] = stack.pop()!;
    strokes += 1;
    let y = y0;
    let x = x0;
    let a = angle;
    for (let t = 0; t < length; t++) {
      a += (rng.uniform() - 0.5) * 0.35;
      y += Math.sin(a);
      x += Math.cos(a);
      const iy = Math.round(y);
      const ix = Math.round(x);
      if (iy < 0 || iy >= height || ix < 0 || ix >= width) break;
      needles[iy * width + ix] = Math.min(1, needles[iy * width + ix]! + intensity);
      if (length > 3 && rng.uniform() < 0.08) stack.push([y, x, a + (rng.uniform() < 0.5 ? -1 : 1) * (0.6 + 0.5 * rng.uniform()), length * 0.5, intensity * 0.8]);
    }
  }
  const soft = gaussianFilter(needles, height, width, 1, Math.max(0.5, scale / 224));
  const out = new Float64Array(height * width);
  let mean = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      out[p] = 0.35 * haze[y * size + x]! + 0.6 * needles[p]! + 0.8 * soft[p]!;
      mean += out[p]! / out.length;
    }
  }
  let variance = 0;
  for (const v of out) variance += (v - mean) ** 2 / out.length;
  // Moment-matched to the frost photographs as ImageNet-C samples them (frost1-5, frost2 and 3
  // being the same image): pixel mean 0.647, standard deviation 0.13.
  const scaleStd = variance > 0 ? 0.13 / Math.sqrt(variance) : 0;
  for (let p = 0; p < out.length; p++) out[p] = Math.min(1, Math.max(0, FROST_MEAN + (out[p]! - mean) * scaleStd));
  return out;
}

const FROST_MEAN = 0.647;
/** The photographs' mean colour relative to their mean brightness (R 0.584, G 0.656, B 0.702). */
const FROST_TINT = [0.584 / FROST_MEAN, 0.656 / FROST_MEAN, 0.702 / FROST_MEAN];

/** Frost on the lens (`frost`): c0·x + c1·texture, the texture tinted with the photographs' mean colour. */
export const frost: CorruptionFn = (image, severity, rng, table) => {
  const [imageWeight, frostWeight] = row(table.frost, severity);
  const { height: H, width: W } = image;
  const texture = frostTexture(rng, H, W);
  const tint = FROST_TINT;
  const x = toFloat64(image);
  for (let p = 0; p < H * W; p++) for (let c = 0; c < 3; c++) x[p * 3 + c] = imageWeight * x[p * 3 + c]! + frostWeight * texture[p]! * tint[c]!;
  return fromFloat64(x, H, W);
};

/** cv2.Canny on an 8-bit plane: 3×3 Sobel (replicated border), L1 magnitude, non-maximum suppression, hysteresis (8-connected). */
function canny(src: Uint8Array, H: number, W: number, low: number, high: number): Uint8Array {
  const mag = new Float64Array(H * W);
  const gxs = new Float64Array(H * W);
  const gys = new Float64Array(H * W);
  const at = (y: number, x: number) => src[borderIndex(y, H, 'nearest') * W + borderIndex(x, W, 'nearest')]!;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const gx = at(y - 1, x + 1) + 2 * at(y, x + 1) + at(y + 1, x + 1) - at(y - 1, x - 1) - 2 * at(y, x - 1) - at(y + 1, x - 1);
      const gy = at(y + 1, x - 1) + 2 * at(y + 1, x) + at(y + 1, x + 1) - at(y - 1, x - 1) - 2 * at(y - 1, x) - at(y - 1, x + 1);
      gxs[y * W + x] = gx;
      gys[y * W + x] = gy;
      mag[y * W + x] = Math.abs(gx) + Math.abs(gy);
    }
  }
  const m = (y: number, x: number) => (y < 0 || y >= H || x < 0 || x >= W ? 0 : mag[y * W + x]!);
  const tan22 = Math.tan(Math.PI / 8);
  const tan67 = Math.tan((3 * Math.PI) / 8);
  const state = new Uint8Array(H * W); // 0 none, 1 weak, 2 strong
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const v = mag[y * W + x]!;
      if (v <= low) continue;
      const ax = Math.abs(gxs[y * W + x]!);
      const ay = Math.abs(gys[y * W + x]!);
      let keep: boolean;
      if (ay <= ax * tan22) keep = v > m(y, x - 1) && v >= m(y, x + 1);
      else if (ay >= ax * tan67) keep = v > m(y - 1, x) && v >= m(y + 1, x);
      else {
        const s = Math.sign(gxs[y * W + x]!) === Math.sign(gys[y * W + x]!) ? 1 : -1;
        keep = v > m(y - 1, x - s) && v > m(y + 1, x + s);
      }
      if (keep) state[y * W + x] = v > high ? 2 : 1;
    }
  }
  const edges = new Uint8Array(H * W);
  const queue: number[] = [];
  for (let p = 0; p < H * W; p++) if (state[p] === 2) queue.push(p);
  while (queue.length) {
    const p = queue.pop()!;
    if (edges[p]) continue;
    edges[p] = 255;
    const y = (p / W) | 0;
    const x = p - y * W;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const yy = y + dy;
        const xx = x + dx;
        if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
        const q = yy * W + xx;
        if (!edges[q] && state[q]! > 0) queue.push(q);
      }
    }
  }
  return edges;
}

/** 3×3 box mean with OpenCV's default border (reflect 101). */
function box3(src: Float64Array, H: number, W: number): Float64Array {
  const out = new Float64Array(H * W);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let s = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) s += src[borderIndex(y + dy, H, 'mirror') * W + borderIndex(x + dx, W, 'mirror')]!;
      out[y * W + x] = s / 9;
    }
  }
  return out;
}

/**
 * Water or mud drops (`spatter`). Water follows the reference chain (Canny edges of
 * the thresholded liquid layer, distance to the nearest edge truncated at 20, box
 * blur, histogram equalisation, an emboss kernel, box blur) with an exact Euclidean
 * distance where OpenCV uses its 5×5 mask approximation.
 */
export const spatter: CorruptionFn = (image, severity, rng, table) => {
  const [loc, scale, sigma, threshold, intensity, mode] = row(table.spatter, severity);
  const { height: H, width: W } = image;
  const raw = new Float64Array(H * W);
  for (let i = 0; i < raw.length; i++) raw[i] = loc + scale * rng.normal();
  const liquid = gaussianFilter(raw, H, W, 1, sigma);
  for (let i = 0; i < liquid.length; i++) if (liquid[i]! < threshold) liquid[i] = 0;
  const x = toFloat64(image);
  if (mode === 0) {
    const l8 = new Uint8Array(H * W);
    for (let i = 0; i < l8.length; i++) l8[i] = Math.min(255, Math.trunc(liquid[i]! * 255));
    const edges = canny(l8, H, W, 50, 150);
    const edgeList: number[] = [];
    for (let p = 0; p < H * W; p++) if (edges[p]) edgeList.push(p);
    let dist: Float64Array<ArrayBufferLike> = new Float64Array(H * W);
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < W; xx++) {
        let best = 20 * 20;
        for (let dy = -20; dy <= 20; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= H) continue;
          for (let dx = -20; dx <= 20; dx++) {
            const xq = xx + dx;
            if (xq < 0 || xq >= W || !edges[yy * W + xq]) continue;
            best = Math.min(best, dy * dy + dx * dx);
          }
        }
        dist[y * W + xx] = edgeList.length ? Math.sqrt(best) : 20;
      }
    }
    dist = box3(dist, H, W);
    const d8 = new Uint8Array(H * W);
    for (let i = 0; i < d8.length; i++) d8[i] = Math.trunc(dist[i]!);
    // cv2.equalizeHist.
    const hist = new Uint32Array(256);
    for (const v of d8) hist[v]! += 1;
    let cdfMin = 0;
    for (let v = 0, acc = 0; v < 256; v++) {
      acc += hist[v]!;
      if (!cdfMin && acc) cdfMin = acc;
    }
    const lut = new Uint8Array(256);
    const total = H * W;
    for (let v = 0, acc = 0; v < 256; v++) {
      acc += hist[v]!;
      lut[v] = total === cdfMin ? v : Math.round(((acc - cdfMin) * 255) / (total - cdfMin));
    }
    const eq = new Float64Array(H * W);
    for (let i = 0; i < eq.length; i++) eq[i] = lut[d8[i]!]!;
    const ker = [-2, -1, 0, -1, 1, 1, 0, 1, 2];
    const emboss = new Float64Array(H * W);
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < W; xx++) {
        let s = 0;
        for (let k = 0; k < 9; k++) s += ker[k]! * eq[borderIndex(y + Math.floor(k / 3) - 1, H, 'mirror') * W + borderIndex(xx + (k % 3) - 1, W, 'mirror')]!;
        emboss[y * W + xx] = Math.min(255, Math.max(0, Math.round(s)));
      }
    }
    const shade = box3(emboss, H, W);
    const mask = new Float64Array(H * W);
    let max = 0;
    for (let i = 0; i < mask.length; i++) {
      mask[i] = l8[i]! * shade[i]!;
      max = Math.max(max, mask[i]!);
    }
    const colour = [175 / 255, 238 / 255, 238 / 255];
    for (let p = 0; p < H * W; p++) {
      const m = max > 0 ? (mask[p]! / max) * intensity : 0;
      for (let c = 0; c < 3; c++) x[p * 3 + c]! += m * colour[c]!;
    }
    return fromFloat64(x, H, W);
  }
  const drops = new Float64Array(H * W);
  for (let i = 0; i < drops.length; i++) drops[i] = liquid[i]! > threshold ? 1 : 0;
  const m = gaussianFilter(drops, H, W, 1, intensity);
  const colour = [63 / 255, 42 / 255, 20 / 255];
  for (let p = 0; p < H * W; p++) {
    const w = m[p]! < 0.8 ? 0 : m[p]!;
    for (let c = 0; c < 3; c++) x[p * 3 + c] = x[p * 3 + c]! * (1 - w) + colour[c]! * w;
  }
  return fromFloat64(x, H, W);
};
