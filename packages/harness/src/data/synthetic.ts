import { checkInteger } from '@tessera/core';
import { checkExampleIndex, type DatasetSplit, type ImageDataset } from './dataset.js';
import { hash2, mix32 } from './hash.js';

/**
 * Six shapes and four textures, a light figure on a darker ground. Hue, brightness,
 * scale, position (shapes may be cut by the border), a small rotation, texture
 * period and phase, a background gradient, clutter and pixel noise all vary, and the
 * shapes cover about the same area, so only shape and texture predict the class: a
 * linear model on raw pixels does poorly (about 29% test accuracy, nearest centroid
 * about 16%; see bench/synthetic-baseline.ts) while a small patch-based transformer
 * learns it in a few epochs.
 */
export const SYNTHETIC_CLASSES = ['circle', 'square', 'triangle', 'cross', 'ring', 'diamond', 'stripes-h', 'stripes-v', 'checker', 'dots'] as const;

export const SYNTHETIC_DEFAULT_SIZE = { train: 5000, test: 1000 } as const;
export const SYNTHETIC_DEFAULT_IMG_SIZE = 32;

/** Datasets up to this many bytes keep rendered images; larger ones re-render on every access. */
export const SYNTHETIC_CACHE_LIMIT_BYTES = 256 * 1024 * 1024;
/** The cache grows in chunks of this many images as they are first used: a size nobody reads costs nothing. */
const CACHE_CHUNK = 256;

/** sfc32: a small, fast generator; images need thousands of draws each (noise), which core's Rng would make slow. */
class Sfc32 {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number) {
    this.a = mix32(seed ^ 0x243f6a88);
    this.b = mix32(seed ^ 0x85a308d3);
    this.c = mix32(seed ^ 0x13198a2e);
    for (let i = 0; i < 12; i++) this.next();
  }

  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  uniform(): number {
    return this.next() / 4294967296;
  }

  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}

type Rgb = [number, number, number];

function luma(c: Rgb): number {
  return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
}

function randomColour(rng: Sfc32): Rgb {
  return [rng.uniform(), rng.uniform(), rng.uniform()];
}

/**
 * A colour at least `minContrast` lighter (in luma) than `darkest`: the figure is
 * always lighter than the ground, so a network needs no polarity-invariant features
 * to start learning shapes, while hue, saturation and brightness stay nuisance.
 */
function lighterColour(rng: Sfc32, darkest: number, minContrast: number): Rgb {
  for (let tries = 0; tries < 64; tries++) {
    const c = randomColour(rng);
    if (luma(c) - darkest >= minContrast) return c;
  }
  return [1, 1, 1];
}

/** A background colour dark enough to leave room for a lighter figure. */
function darkColour(rng: Sfc32, maxLuma: number): Rgb {
  for (let tries = 0; tries < 64; tries++) {
    const c = randomColour(rng);
    if (luma(c) <= maxLuma) return c;
  }
  return [0, 0, 0];
}

/** Antialiased coverage of a pixel from a signed distance in pixels (negative inside). */
function coverage(sd: number): number {
  const a = 0.5 - sd;
  return a <= 0 ? 0 : a >= 1 ? 1 : a;
}

/** Signed distance (in pixels) to a periodic band of width `duty*period` along coordinate s. */
function bandDistance(s: number, period: number, duty: number): number {
  let local = s % period;
  if (local < 0) local += period;
  const width = duty * period;
  return local < width ? -Math.min(local, width - local) : Math.min(local - width, period - local);
}

const DEG = Math.PI / 180;

/** Shape signed-distance functions in shape-local pixel coordinates (x right, y down), size r. */
function shapeDistance(label: number, x: number, y: number, r: number): number {
  const ax = Math.abs(x);
  const ay = Math.abs(y);
  switch (label) {
    case 0: // circle
      return Math.sqrt(x * x + y * y) - r;
    // Sizes are chosen so every figure covers about 3 r^2: area (hence brightness) says nothing about the class.
    case 1: // square
      return Math.max(ax, ay) - 0.88 * r;
    case 2: {
      // upright equilateral triangle: three half-planes at the in-radius of a circumradius 1.5r triangle
      const R = 1.5 * r;
      const n1 = y;
      const n2 = -0.5 * y + 0.8660254037844386 * x;
      const n3 = -0.5 * y - 0.8660254037844386 * x;
      return Math.max(n1, n2, n3) - 0.5 * R;
    }
    case 3: {
      // plus sign: union of two bars
      const w = 0.36 * r;
      const L = 1.15 * r;
      return Math.min(Math.max(ax - L, ay - w), Math.max(ax - w, ay - L));
    }
    case 4: // ring
      return Math.abs(Math.sqrt(x * x + y * y) - 0.8 * r) - 0.3 * r;
    default: // 5, diamond: a square turned 45 degrees
      return (ax + ay - 1.2 * r) * Math.SQRT1_2;
  }
}

/** Renders one image of class `label`, a pure function of `seed`, into `out` (HWC RGB uint8, size x size); `scratch` holds size*size*3 floats. */
export function renderSynthetic(label: number, seed: number, size: number, out: Uint8Array, scratch: Float32Array): void {
  const rng = new Sfc32(seed);
  const S = size;
  const img = scratch;

  // Background: a colour with a linear gradient towards a nearby colour.
  const bg = darkColour(rng, 0.55);
  const bg2: Rgb = [0, 1, 2].map((c) => Math.min(1, Math.max(0, (bg[c] as number) + rng.range(-0.2, 0.2)))) as Rgb;
  const gAngle = rng.range(0, 2 * Math.PI);
  const gx = Math.cos(gAngle) / S;
  const gy = Math.sin(gAngle) / S;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const t = Math.min(1, Math.max(0, 0.5 + (x - S / 2) * gx + (y - S / 2) * gy));
      const o = (y * S + x) * 3;
      img[o] = bg[0] + (bg2[0] - bg[0]) * t;
      img[o + 1] = bg[1] + (bg2[1] - bg[1]) * t;
      img[o + 2] = bg[2] + (bg2[2] - bg[2]) * t;
    }
  }
  const fg = lighterColour(rng, Math.max(luma(bg), luma(bg2)), 0.3);
  const isTexture = label >= 6;

  const paint = (colour: Rgb, sdAt: (x: number, y: number) => number, x0: number, y0: number, x1: number, y1: number): void => {
    const xa = Math.max(0, Math.floor(x0));
    const ya = Math.max(0, Math.floor(y0));
    const xb = Math.min(S - 1, Math.ceil(x1));
    const yb = Math.min(S - 1, Math.ceil(y1));
    for (let y = ya; y <= yb; y++) {
      for (let x = xa; x <= xb; x++) {
        const a = coverage(sdAt(x + 0.5, y + 0.5));
        if (a === 0) continue;
        const o = (y * S + x) * 3;
        img[o] = (img[o] as number) + (colour[0] - (img[o] as number)) * a;
        img[o + 1] = (img[o + 1] as number) + (colour[1] - (img[o + 1] as number)) * a;
        img[o + 2] = (img[o + 2] as number) + (colour[2] - (img[o + 2] as number)) * a;
      }
    }
  };

  const clutter = (): void => {
    const count = rng.int(3);
    for (let k = 0; k < count; k++) {
      const colour = randomColour(rng);
      const r = rng.range(0.03, 0.05) * S;
      const cx = rng.range(0, S);
      const cy = rng.range(0, S);
      const round = rng.uniform() < 0.5;
      paint(colour, (x, y) => (round ? Math.sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy)) - r : Math.max(Math.abs(x - cx), Math.abs(y - cy)) - r), cx - r - 1, cy - r - 1, cx + r + 1, cy + r + 1);
    }
  };

  if (!isTexture) {
    clutter();
    const r = rng.range(0.2, 0.34) * S;
    // Centres range widely (a shape may be cut by the border), so no pixel template fits a class.
    const reach = 0.7 * r;
    const cx = rng.range(Math.min(reach, S / 2), Math.max(S - reach, S / 2));
    const cy = rng.range(Math.min(reach, S / 2), Math.max(S - reach, S / 2));
    // Small rotations only: a square turned far would become a diamond.
    const angle = rng.range(-8, 8) * DEG;
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    paint(
      fg,
      (x, y) => {
        const dx = x - cx;
        const dy = y - cy;
        return shapeDistance(label, cos * dx + sin * dy, -sin * dx + cos * dy, r);
      },
      cx - 1.5 * r - 1,
      cy - 1.5 * r - 1,
      cx + 1.5 * r + 1,
      cy + 1.5 * r + 1,
    );
  } else {
    const angle = rng.range(-8, 8) * DEG;
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    const phaseU = rng.uniform();
    const phaseV = rng.uniform();
    let sdAt: (x: number, y: number) => number;
    if (label === 6 || label === 7) {
      const period = rng.range(0.14, 0.25) * S;
      const offset = phaseU * period;
      sdAt =
        label === 6
          ? (x, y) => bandDistance(-sin * x + cos * y + offset, period, 0.5)
          : (x, y) => bandDistance(cos * x + sin * y + offset, period, 0.5);
    } else if (label === 8) {
      const cell = rng.range(0.1, 0.17) * S;
      const ou = phaseU * 2 * cell;
      const ov = phaseV * 2 * cell;
      sdAt = (x, y) => {
        const u = bandDistance(cos * x + sin * y + ou, 2 * cell, 0.5);
        const v = bandDistance(-sin * x + cos * y + ov, 2 * cell, 0.5);
        // XOR of two square waves: inside where exactly one band is inside.
        return (u < 0) !== (v < 0) ? -Math.min(Math.abs(u), Math.abs(v)) : Math.min(Math.abs(u), Math.abs(v));
      };
    } else {
      const spacing = rng.range(0.18, 0.27) * S;
      const radius = 0.36 * spacing;
      const ou = phaseU * spacing;
      const ov = phaseV * spacing;
      sdAt = (x, y) => {
        let u = (cos * x + sin * y + ou) % spacing;
        let v = (-sin * x + cos * y + ov) % spacing;
        if (u < 0) u += spacing;
        if (v < 0) v += spacing;
        return Math.sqrt((u - spacing / 2) ** 2 + (v - spacing / 2) ** 2) - radius;
      };
    }
    paint(fg, sdAt, 0, 0, S - 1, S - 1);
    clutter();
  }

  // Uniform pixel noise; one 30-bit draw feeds the three channels of a pixel.
  const noise = rng.range(0.01, 0.04) / 511.5;
  for (let p = 0; p < S * S; p++) {
    const bits = rng.next();
    for (let c = 0; c < 3; c++) {
      const i = 3 * p + c;
      const v = ((img[i] as number) + noise * (((bits >>> (10 * c)) & 1023) - 511.5)) * 255 + 0.5;
      out[i] = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
    }
  }
}

/** The built-in procedurally generated dataset; every image is a pure function of (seed, split, index). */
export class SyntheticDataset implements ImageDataset {
  readonly name = 'synthetic';
  readonly classNames: readonly string[] = SYNTHETIC_CLASSES;
  readonly numClasses = SYNTHETIC_CLASSES.length;
  readonly channels = 3 as const;
  readonly height: number;
  readonly width: number;
  readonly length: number;
  private readonly baseSeed: number;
  private readonly imageBytes: number;
  private readonly cache: Map<number, { pixels: Uint8Array; rendered: Uint8Array }> | undefined;
  private readonly scratch: Float32Array;

  constructor(options: { split: DatasetSplit; imgSize?: number; seed?: number; size?: number }) {
    const side = checkInteger('imgSize', options.imgSize ?? SYNTHETIC_DEFAULT_IMG_SIZE, 8, 4096);
    this.length = checkInteger('size', options.size ?? SYNTHETIC_DEFAULT_SIZE[options.split], 1);
    const seed = checkInteger('seed', options.seed ?? 0, Number.MIN_SAFE_INTEGER);
    this.height = side;
    this.width = side;
    this.imageBytes = side * side * 3;
    // The two splits draw from unrelated streams, so test images are never train images.
    this.baseSeed = hash2(hash2(seed >>> 0, Math.floor(seed / 4294967296) >>> 0), options.split === 'train' ? 1 : 2);
    if (this.length * this.imageBytes <= SYNTHETIC_CACHE_LIMIT_BYTES) this.cache = new Map();
    this.scratch = new Float32Array(this.imageBytes);
  }

  /** Exactly balanced: example i has class i mod 10. */
  labelOf(i: number): number {
    return i % this.numClasses;
  }

  example(i: number): { pixels: Uint8Array; label: number } {
    checkExampleIndex(this, i);
    const label = this.labelOf(i);
    if (this.cache === undefined) {
      const pixels = new Uint8Array(this.imageBytes);
      renderSynthetic(label, hash2(this.baseSeed, i), this.height, pixels, this.scratch);
      return { pixels, label };
    }
    const index = Math.floor(i / CACHE_CHUNK);
    let chunk = this.cache.get(index);
    if (chunk === undefined) {
      const images = Math.min(CACHE_CHUNK, this.length - index * CACHE_CHUNK);
      chunk = { pixels: new Uint8Array(images * this.imageBytes), rendered: new Uint8Array(images) };
      this.cache.set(index, chunk);
    }
    const j = i - index * CACHE_CHUNK;
    const pixels = chunk.pixels.subarray(j * this.imageBytes, (j + 1) * this.imageBytes);
    if (chunk.rendered[j] === 0) {
      renderSynthetic(label, hash2(this.baseSeed, i), this.height, pixels, this.scratch);
      chunk.rendered[j] = 1;
    }
    return { pixels, label };
  }
}
