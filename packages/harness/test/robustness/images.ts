import type { RgbImage } from '../../src/robustness/image.js';

/** A smooth procedural scene (gradients, a soft disc, a bar): photographs' low-frequency statistics, in [0, 1]. */
export function smoothScene(height: number, width: number, salt = 0): RgbImage {
  const data = new Float32Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / (width - 1);
      const v = y / (height - 1);
      const disc = Math.exp(-((u - 0.35 - 0.1 * salt) ** 2 + (v - 0.6) ** 2) / 0.03);
      const bar = u > 0.6 && u < 0.8 ? 0.35 : 0;
      const p = (y * width + x) * 3;
      data[p] = Math.min(1, 0.2 + 0.5 * u + 0.3 * disc);
      data[p + 1] = Math.min(1, 0.3 + 0.4 * v * (1 - u) + bar);
      data[p + 2] = Math.min(1, 0.25 + 0.3 * Math.sin(3 * u + 2 * v + salt) ** 2 + 0.25 * disc);
    }
  }
  return { height, width, data };
}

export function psnr(a: RgbImage, b: RgbImage): number {
  let mse = 0;
  for (let i = 0; i < a.data.length; i++) mse += (a.data[i]! - b.data[i]!) ** 2;
  return -10 * Math.log10(mse / a.data.length);
}

/** Pearson correlation of two images' values. */
export function correlation(a: RgbImage, b: RgbImage): number {
  const n = a.data.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a.data[i]! / n;
    mb += b.data[i]! / n;
  }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a.data[i]! - ma;
    const db = b.data[i]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return sab / Math.sqrt(saa * sbb);
}
