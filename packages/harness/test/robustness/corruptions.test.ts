import { describe, expect, it } from 'vitest';
import { ALL_CORRUPTIONS, COMMON_CORRUPTIONS, corruptBatch, corruptImage, DETERMINISTIC_CORRUPTIONS, EXTRA_CORRUPTIONS, imageSeed, parseCorruptionList, parseSeverities, type CorruptionName } from '../../src/robustness/corruptions/index.js';
import { jpegRoundTrip } from '../../src/robustness/corruptions/digital.js';
import type { RgbImage } from '../../src/robustness/image.js';
import { loadCorruptionFixtures } from './fixture.js';
import { correlation, psnr, smoothScene } from './images.js';

const fixtures = loadCorruptionFixtures();

/** Differences to a reference output, in 8-bit levels (0..255). */
function diff(out: RgbImage, expected: Float64Array) {
  let max = 0;
  let sum = 0;
  let over4 = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(out.data[i]! * 255 - expected[i]!);
    max = Math.max(max, d);
    sum += d;
    if (d > 4) over4 += 1;
  }
  return { max, mean: sum / expected.length, over4: over4 / expected.length };
}

function psnr255(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let mse = 0;
  for (let i = 0; i < a.length; i++) mse += (a[i]! - b[i]!) ** 2;
  return 10 * Math.log10((255 * 255) / (mse / a.length));
}

describe('corruptions against the reference Python code (fixtures/robustness/make_corruption_fixtures.py)', () => {
  // Float outputs are stored as round(v·256) of v in 0..255, so 1/512 level of storage error; the
  // TS code computes in float64 and returns float32 (6e-8 relative). 0.005 levels covers both.
  const floatCases = fixtures.filter((c) => ['brightness', 'contrast', 'saturate', 'gaussian_blur', 'defocus_blur', 'zoom_blur'].includes(c.corruption));
  it.each(floatCases.map((c) => [c.imageName, c.corruption, c.severity, c] as const))('%s %s severity %i: within 0.005 of 255 levels', (_i, _n, _s, c) => {
    const out = corruptImage(c.image, c.corruption as CorruptionName, c.severity, { table: c.table });
    expect(diff(out, c.expected).max).toBeLessThan(0.005);
  });

  // Pillow's BOX/NEAREST resampling works in 8 bits with fixed-point weights; the port reproduces
  // its rounding (including the tie rule of its NEAREST stepping), so the outputs are identical up to
  // the float32 of k/255.
  it.each(fixtures.filter((c) => c.corruption === 'pixelate').map((c) => [c.imageName, c.severity, c] as const))('%s pixelate severity %i: identical to Pillow', (_i, _s, c) => {
    expect(diff(corruptImage(c.image, "pixelate", c.severity, { table: c.table }), c.expected).max).toBeLessThan(1e-4);
  });

  // Same quality tables, chroma layout (4:4:4) and colour transform as Pillow's libjpeg with
  // subsampling=0; jpeg-js uses a float DCT and its own IDCT where libjpeg uses the integer islow
  // DCT, so a coefficient near a quantiser boundary can round the other way. Observed: mean 0.55-0.8
  // levels, at most 1.8 % of values more than 4 levels off (bound: 3 %).
  it.each(fixtures.filter((c) => c.corruption === 'jpeg_compression_444').map((c) => [c.imageName, c.severity, c] as const))('%s JPEG 4:4:4 severity %i: codec arithmetic matches libjpeg', (_i, s, c) => {
    const quality = (c.table === 'cifar' ? [80, 65, 58, 50, 40] : [25, 18, 15, 10, 7])[s - 1]!;
    const d = diff(jpegRoundTrip(c.image, quality, '4:4:4'), c.expected);
    expect(d.mean).toBeLessThan(1);
    expect(d.over4).toBeLessThan(0.03);
  });

  // The reference (Pillow's default) subsamples chroma inside the codec, quantising chroma on
  // 16×16 blocks; jpeg-js has no subsampling, so the 4:2:0 chroma loss is reproduced before a 4:4:4
  // encode. The chroma block artefacts then differ, so the check is statistical: the loss against
  // the clean image agrees within 3 dB PSNR (observed: Tessera 0.4-2.4 dB milder) and the two outputs
  // are closer to each other than 18 dB PSNR allows.
  it.each(fixtures.filter((c) => c.corruption === 'jpeg_compression').map((c) => [c.imageName, c.severity, c] as const))('%s JPEG severity %i: as lossy as Pillow at the same quality', (_i, s, c) => {
    const out = corruptImage(c.image, 'jpeg_compression', s, { table: c.table });
    const clean = Array.from(c.image.data, (v) => Math.round(v * 255));
    const mine = Array.from(out.data, (v) => v * 255);
    expect(Math.abs(psnr255(mine, clean) - psnr255(c.expected, clean))).toBeLessThan(3);
    expect(psnr255(mine, c.expected)).toBeGreaterThan(18);
  });
});

const SCENES = { cifar: smoothScene(32, 32), imagenet: smoothScene(64, 56) } as const;

describe.each(ALL_CORRUPTIONS.map((n) => [n]))('%s', (name) => {
  it('keeps the shape and the [0, 1] range, and does not modify its input', () => {
    for (const image of Object.values(SCENES)) {
      const before = Float32Array.from(image.data);
      const out = corruptImage(image, name, 5, { seed: 3 });
      expect([out.height, out.width, out.data.length]).toEqual([image.height, image.width, image.data.length]);
      expect(out.data.every((v) => Number.isFinite(v) && v >= 0 && v <= 1)).toBe(true);
      expect(image.data).toEqual(before);
    }
  });

  it('is a pure function of (image, severity, seed)', () => {
    const image = SCENES.imagenet;
    const a = corruptImage(image, name, 3, { seed: 11 });
    const b = corruptImage(image, name, 3, { seed: 11 });
    expect(a.data).toEqual(b.data);
    const other = corruptImage(image, name, 3, { seed: 12 });
    if (DETERMINISTIC_CORRUPTIONS.includes(name)) expect(other.data).toEqual(a.data);
    else expect(other.data).not.toEqual(a.data);
  });
});

/**
 * The distortion measure per corruption, averaged over 4 seeds. PSNR against the clean image
 * (falls) unless stated; `slack` dB absorbs ties where consecutive parameters barely differ
 * (CIFAR-10-C motion blur radius 6 → 8 at σ 2; JPEG on a smooth 32-px image).
 */
type Measure = 'psnr' | 'correlation' | 'blockiness';
const MONOTONE: Record<CorruptionName, { measure: Measure; chains: Record<'cifar' | 'imagenet', number[][]>; slack?: number; why?: string }> = {
  gaussian_noise: { measure: 'psnr', chains: { cifar: [[1, 2, 3, 4, 5]], imagenet: [[1, 2, 3, 4, 5]] } },
  shot_noise: { measure: 'psnr', chains: { cifar: [[1, 2, 3, 4, 5]], imagenet: [[1, 2, 3, 4, 5]] } },
  impulse_noise: { measure: 'psnr', chains: { cifar: [[1, 2, 3, 4, 5]], imagenet: [[1, 2, 3, 4, 5]] } },
  speckle_noise: { measure: 'psnr', chains: { cifar: [[1, 2, 3, 4, 5]], imagenet: [[1, 2, 3, 4, 5]] } },
  defocus_blur: { measure: 'psnr', chains: { cifar: [[1, 2, 3, 4, 5]], imagenet: [[1, 2, 3, 4, 5]] } },
  motion_blur: { measure: 'psnr', chains: { cifar: [[1, 2, 3, 4, 5]], imagenet: [[1, 2, 3, 4, 5]] }, slack: 0.05 },
  zoom_blur: { measure: 'psnr', chains: { cifar: [[1, 2, 3, 4, 5]], imagenet: [[1, 2, 3, 4, 5]] } },
  gaussian_blur: { measure: 'psnr', chains: { cifar: [[1, 2, 3, 4, 5]], imagenet: [[1, 2, 3, 4, 5]] } },
  glass_blur: {
    measure: 'psnr',
    chains: { cifar: [[2, 4], [3, 5]], imagenet: [[1, 3], [2, 3], [4, 5]] },
    why: 'blur σ and the shuffle do not rise together in the tables (a wider blur hides the shuffle), so only pairs where the shuffle grows (more iterations or a longer reach) and σ does not fall',
  },
  snow: { measure: 'psnr', chains: { cifar: [[1, 2, 3, 4, 5]], imagenet: [[1, 2, 3, 4, 5]] }, slack: 0.05 },
  frost: { measure: 'correlation', chains: { cifar: [[1, 2, 3, 4, 5]], imagenet: [[1, 2, 3, 4, 5]] }, why: 'the image is dimmed as the frost grows, so PSNR is not ordered; the correlation with the clean image is' },
  fog: { measure: 'psnr', chains: { cifar: [[1, 2, 3, 4, 5]], imagenet: [[1, 2, 3, 4, 5]] } },
  spatter: { measure: 'psnr', chains: { cifar: [[1, 2, 3], [4, 5]], imagenet: [[1, 2, 3], [4, 5]] }, why: 'severities 1-3 are water and 4-5 mud, two different effects' },
  brightness: { measure: 'psnr', chains: { cifar: [[1, 2, 3, 4, 5]], imagenet: [[1, 2, 3, 4, 5]] } },
  contrast: { measure: 'psnr', chains: { cifar: [[1, 2, 3, 4, 5]], imagenet: [[1, 2, 3, 4, 5]] } },
  elastic_transform: {
    measure: 'psnr',
    chains: { cifar: [], imagenet: [[3, 4, 5]] },
    why: "ImageNet-C's severities 1-2 are large smooth warps and 3-5 a growing fine field; CIFAR-10-C's table shrinks the affine jitter while the field grows, so no measure is ordered there",
  },
  pixelate: { measure: 'blockiness', chains: { cifar: [[1, 2, 3, 4, 5]], imagenet: [[1, 2, 3, 4, 5]] }, why: 'the share of repeated neighbouring pixels (PSNR depends on the resampling phase)' },
  jpeg_compression: { measure: 'psnr', chains: { cifar: [[1, 2, 3, 4, 5]], imagenet: [[1, 2, 3, 4, 5]] }, slack: 0.15 },
  saturate: { measure: 'psnr', chains: { cifar: [[1, 2], [3, 4, 5]], imagenet: [[1, 2], [3, 4, 5]] }, why: 'severities 1-2 desaturate and 3-5 oversaturate' },
};

function distortion(measure: Measure, out: RgbImage, clean: RgbImage): number {
  if (measure === 'psnr') return -psnr(out, clean);
  if (measure === 'correlation') return -correlation(out, clean);
  let same = 0;
  for (let y = 0; y < out.height; y++) for (let x = 1; x < out.width; x++) if ((y * out.width + x) * 3 && out.data[(y * out.width + x) * 3] === out.data[(y * out.width + x - 1) * 3]) same += 1;
  return same / (out.height * (out.width - 1));
}

describe('severity orders the distortion (measure per corruption in MONOTONE)', () => {
  it.each(ALL_CORRUPTIONS.map((n) => [n]))('%s', (name) => {
    const rule = MONOTONE[name];
    for (const table of ['cifar', 'imagenet'] as const) {
      const clean = SCENES[table];
      const level = [0, 1, 2, 3, 4, 5].map((s) => (s === 0 ? 0 : [0, 1, 2, 3].reduce((acc, seed) => acc + distortion(rule.measure, corruptImage(clean, name, s, { seed }), clean) / 4, 0)));
      for (const chain of rule.chains[table]) {
        for (let k = 1; k < chain.length; k++) {
          expect(level[chain[k]!]!, `${table} severity ${chain[k - 1]} → ${chain[k]}`).toBeGreaterThan(level[chain[k - 1]!]! - (rule.slack ?? 0));
        }
      }
    }
  });
});

describe('corruptBatch', () => {
  it('corrupts image i with imageSeed(seed, i), like corruptImage', () => {
    const a = smoothScene(32, 32, 0);
    const b = smoothScene(32, 32, 1);
    const batch = new Float32Array([...a.data, ...b.data]);
    const out = corruptBatch(batch, [2, 32, 32, 3], 'gaussian_noise', 2, { seed: 5 });
    expect(out.subarray(32 * 32 * 3)).toEqual(corruptImage(b, 'gaussian_noise', 2, { seed: imageSeed(5, 1) }).data);
    expect(out.subarray(0, 32 * 32 * 3)).toEqual(corruptImage(a, 'gaussian_noise', 2, { seed: imageSeed(5, 0) }).data);
  });

  it('corrupts gray images as RGB and returns their luma', () => {
    const gray = new Float32Array(16 * 16).map((_, i) => (i % 16) / 15);
    const out = corruptBatch(gray, [1, 16, 16, 1], 'contrast', 5);
    expect(out.length).toBe(256);
    const rgb = new Float32Array(768);
    for (let i = 0; i < 256; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = gray[i]!;
    const ref = corruptImage({ height: 16, width: 16, data: rgb }, 'contrast', 5, { seed: imageSeed(0, 0) });
    for (let i = 0; i < 256; i++) expect(out[i]).toBeCloseTo(ref.data[3 * i]!, 6);
  });

  it('names the bad argument before any work', () => {
    expect(() => corruptBatch(new Float32Array(12), [1, 2, 2, 2] as never, 'contrast', 1)).toThrow(/shape/);
    expect(() => corruptBatch(new Float32Array(11), [1, 2, 2, 3], 'contrast', 1)).toThrow(/data/);
    expect(() => corruptImage(SCENES.cifar, 'fuzz' as never, 1)).toThrow(/corruption.*one of gaussian_noise/);
    expect(() => corruptImage(SCENES.cifar, 'fog', 6)).toThrow(/severity.*1 to 5/);
    expect(() => corruptImage(SCENES.cifar, 'fog', 1, { seed: 0.5 })).toThrow(/seed/);
    expect(() => corruptImage(SCENES.cifar, 'fog', 1, { table: 'mnist' as never })).toThrow(/table/);
  });
});

describe('names', () => {
  it('has the 15 common corruptions in canonical order and 4 extra', () => {
    expect(COMMON_CORRUPTIONS).toHaveLength(15);
    expect(EXTRA_CORRUPTIONS).toEqual(['speckle_noise', 'gaussian_blur', 'spatter', 'saturate']);
    expect(parseCorruptionList('all')).toHaveLength(19);
    expect(parseCorruptionList('extra,fog,fog')).toEqual([...EXTRA_CORRUPTIONS, 'fog']);
    expect(() => parseCorruptionList('fog,smoke')).toThrow(/--corruptions.*smoke.*all, common, extra/);
  });

  it('parses severities', () => {
    expect(parseSeverities('1-5')).toEqual([1, 2, 3, 4, 5]);
    expect(parseSeverities('5,1,3')).toEqual([1, 3, 5]);
    expect(() => parseSeverities('0-3')).toThrow(/--severities/);
    expect(() => parseSeverities('4-2')).toThrow(/--severities/);
  });
});

describe('jpeg-js encoder reuse', () => {
  it('writes the same bytes as jpeg.encode, whatever was encoded before', async () => {
    const jpeg = (await import('jpeg-js')).default;
    const { jpegEncoder } = await import('../../src/robustness/corruptions/digital.js');
    const data = new Uint8Array(24 * 16 * 4).map((_, i) => (i * 37) % 256);
    jpegEncoder(15).encode({ data: new Uint8Array(8 * 8 * 4).fill(7), width: 8, height: 8 }, 15);
    for (const quality of [80, 15, 7]) expect(Buffer.from(jpegEncoder(quality).encode({ data, width: 24, height: 16 }, quality))).toEqual(Buffer.from(jpeg.encode({ data, width: 24, height: 16 }, quality).data));
  });
});

describe('glass blur pixel shuffle', () => {
  it('copies a neighbour into each visited pixel, as numpy evaluates the reference swap (hand-checked 4×4 case)', async () => {
    const { shufflePixels } = await import('../../src/robustness/corruptions/blur.js');
    // Pixel p holds (p, p, p). shift 1: h and w run 3, 2; every draw is 0 → offset −1, so x[h, w] = x[h − 1, w − 1].
    const x = Float64Array.from({ length: 48 }, (_, i) => Math.floor(i / 3));
    shufflePixels(x, 4, 4, 1, 1, { int: () => 0 });
    const at = (h: number, w: number) => x[(h * 4 + w) * 3];
    // Visit order (3,3), (3,2), (2,3), (2,2): each reads a pixel not yet visited.
    expect([at(3, 3), at(3, 2), at(2, 3), at(2, 2)]).toEqual([10, 9, 6, 5]);
    // The neighbours keep their values (a swap would have moved 15 to (2, 2)).
    expect([at(1, 1), at(1, 2), at(2, 1)]).toEqual([5, 6, 9]);
    expect(at(0, 0)).toBe(0);
  });
});
