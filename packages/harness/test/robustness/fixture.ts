import { readFileSync } from 'node:fs';
import type { RgbImage } from '../../src/robustness/image.js';

interface RawFixture {
  sources: Record<string, string>;
  images: Record<string, { height: number; width: number; table: 'cifar' | 'imagenet'; pixels: string }>;
  cases: Array<{ image: string; corruption: string; severity: number; dtype: 'uint8' | 'uint16'; values: string }>;
}

export interface FixtureCase {
  readonly imageName: string;
  readonly image: RgbImage;
  readonly table: 'cifar' | 'imagenet';
  readonly corruption: string;
  readonly severity: number;
  /** The reference output in 0..255. */
  readonly expected: Float64Array;
}

/** The reference outputs made by fixtures/robustness/make_corruption_fixtures.py. */
export function loadCorruptionFixtures(): FixtureCase[] {
  const raw = JSON.parse(readFileSync(new URL('../fixtures/robustness/corruptions.json', import.meta.url), 'utf8')) as RawFixture;
  const images = Object.fromEntries(
    Object.entries(raw.images).map(([name, im]) => {
      const bytes = Buffer.from(im.pixels, 'base64');
      return [name, { table: im.table, image: { height: im.height, width: im.width, data: Float32Array.from(bytes, (v) => v / 255) } }];
    }),
  );
  return raw.cases.map((c) => {
    const bytes = Buffer.from(c.values, 'base64');
    const expected =
      c.dtype === 'uint8'
        ? Float64Array.from(bytes)
        : Float64Array.from(new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)), (v) => v / 256);
    const { image, table } = images[c.image]!;
    return { imageName: c.image, image, table, corruption: c.corruption, severity: c.severity, expected };
  });
}
