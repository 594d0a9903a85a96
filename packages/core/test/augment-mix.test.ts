import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  boxArea,
  corePlugin,
  createAugmentation,
  cutmix,
  cutmixBox,
  InvalidArgumentError,
  Mixup,
  oneHot,
  registry,
  Rng,
  setBackend,
  smoothTargets,
  softTargetCrossEntropy,
  tf,
  type MixParams,
} from '../src/index.js';

beforeAll(async () => {
  await setBackend('wasm');
});

/** Image i is filled with the constant i + 1, so every pixel tells which image it came from. */
function labelledImages(b: number, h: number, w: number, c = 1): tf.Tensor4D {
  const data = new Float32Array(b * h * w * c);
  for (let i = 0; i < b; i++) data.fill(i + 1, i * h * w * c, (i + 1) * h * w * c);
  return tf.tensor4d(data, [b, h, w, c]);
}

/** Distinct values everywhere, to catch any pixel that moves. */
function rampImages(b: number, h: number, w: number, c: number): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from({ length: b * h * w * c }, (_, i) => (i % 9973) / 97 - 3), [b, h, w, c]);
}

const rows = (t: tf.Tensor): number[][] => t.arraySync() as number[][];

describe('oneHot and label smoothing', () => {
  it('gives off = eps/K and on = 1 - eps + eps/K, rows summing to 1', () => {
    const t = oneHot([2, 0, 4], 5, 0.1);
    const r = rows(t);
    expect(r[0]![2]).toBeCloseTo(1 - 0.1 + 0.1 / 5, 6);
    expect(r[0]![0]).toBeCloseTo(0.1 / 5, 6);
    expect(r[1]![0]).toBeCloseTo(0.92, 6);
    for (const row of r) expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 6);
    t.dispose();
  });

  it('without smoothing is the plain one-hot, and accepts an int32 tensor', () => {
    const labels = tf.tensor1d([1, 0], 'int32');
    const t = oneHot(labels, 3);
    expect(rows(t)).toEqual([
      [0, 1, 0],
      [1, 0, 0],
    ]);
    tf.dispose([labels, t]);
  });

  it('refuses a label outside [0, K) naming it', () => {
    expect(() => oneHot([0, 3], 3)).toThrow(/labels\[1\] = 3 .*class index in \[0, 2\]/);
    expect(() => oneHot([0], 3, 1.5)).toThrow(InvalidArgumentError);
  });

  it('smoothTargets on one-hot rows gives the same values as oneHot with smoothing', () => {
    const plain = oneHot([1, 2], 4);
    const smoothed = smoothTargets(plain, 0.2);
    const reference = oneHot([1, 2], 4, 0.2);
    expect(tf.max(tf.abs(tf.sub(smoothed, reference))).dataSync()[0]).toBeLessThan(1e-7);
    tf.dispose([plain, smoothed, reference]);
  });
});

describe('softTargetCrossEntropy', () => {
  it('is mean_b sum_k -t log_softmax(z) (float64 reference, tolerance 1e-5) with gradient (softmax - t)/B', () => {
    const z = [
      [1.5, -0.3, 0.2],
      [0.1, 2.0, -1.0],
    ];
    const t = [
      [0.7, 0.2, 0.1],
      [0.0, 0.5, 0.5],
    ];
    let expected = 0;
    const grad: number[][] = [];
    z.forEach((row, b) => {
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
      row.forEach((v, k) => (expected += (-t[b]![k]! * (v - lse)) / z.length));
      grad.push(row.map((v, k) => (Math.exp(v - lse) - t[b]![k]!) / z.length));
    });
    const logits = tf.tensor2d(z);
    const targets = tf.tensor2d(t);
    const loss = softTargetCrossEntropy(logits, targets);
    expect(Math.abs(loss.dataSync()[0]! - expected)).toBeLessThan(1e-5);
    const g = tf.grad((x: tf.Tensor) => softTargetCrossEntropy(x as tf.Tensor2D, targets))(logits);
    const gv = rows(g);
    gv.forEach((row, b) => row.forEach((v, k) => expect(Math.abs(v - grad[b]![k]!)).toBeLessThan(1e-5)));
    tf.dispose([logits, targets, loss, g]);
  });

  it('refuses targets whose shape differs from the logits', () => {
    const logits = tf.zeros([2, 3]) as tf.Tensor2D;
    const targets = tf.zeros([2, 4]) as tf.Tensor2D;
    expect(() => softTargetCrossEntropy(logits, targets)).toThrow(/targets .*\[2, 3\]/);
    tf.dispose([logits, targets]);
  });
});

describe('cutmixBox (timm rand_bbox)', () => {
  it('clips at the border and the corrected lambda follows the clipped area (hand-computed)', () => {
    // λ = 0.64: r = 0.6, cut = 6, half-side 3; centre row 0, column 9 of a 10x10 image.
    const box = cutmixBox(10, 10, 0.64, { y: 0.05, x: 0.95 });
    expect(box).toEqual({ top: 0, bottom: 3, left: 6, right: 10 });
    expect(boxArea(box, 10, 10)).toBeCloseTo(0.12, 12);
    const mix = cutmix({ labelSmoothing: 0 });
    expect(mix.resolveSample({ kind: 'cutmix', lambda: 0.64, center: { y: 0.05, x: 0.95 } }, 10, 10).lambda).toBeCloseTo(0.88, 12);
    const uncorrected = cutmix({ labelSmoothing: 0, correctLambda: false });
    expect(uncorrected.resolveSample({ kind: 'cutmix', lambda: 0.64, center: { y: 0.05, x: 0.95 } }, 10, 10).lambda).toBe(0.64);
  });

  it('an odd cut side loses one pixel, as timm (cut//2 on both sides)', () => {
    // λ = 0.75: r = 0.5, cut = int(7·0.5) = 3, half 1 → box of 2 rows around the centre.
    expect(cutmixBox(7, 7, 0.75, { y: 0.5, x: 0.5 })).toEqual({ top: 2, bottom: 4, left: 2, right: 4 });
  });
});

describe('Mixup / CutMix', () => {
  it('mixed targets sum to 1 per row and stay in [0, 1] for any options and seed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.constantFrom('batch', 'pair', 'elem'),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.double({ min: 0.1, max: 2, noNaN: true }),
        fc.double({ min: 0, max: 2, noNaN: true }),
        (seed, mode, labelSmoothing, mixupAlpha, cutmixAlpha) => {
          const aug = new Mixup({ mixupAlpha, cutmixAlpha, mode: mode as 'batch', labelSmoothing });
          const images = rampImages(4, 6, 5, 1);
          const targets = oneHot([0, 1, 2, 2], 3);
          const params = aug.sample(4, new Rng(seed));
          const out = aug.apply({ images, targets }, params);
          const t = rows(out.targets);
          for (const row of t) {
            expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
            for (const v of row) expect(v).toBeGreaterThanOrEqual(-1e-7);
          }
          tf.dispose([images, targets, out.images, out.targets]);
        },
      ),
      { seed: 42, numRuns: 40 },
    );
  });

  it('CutMix: the partner fraction of the label equals the pasted pixel fraction after clipping, and outside pixels are untouched', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 3, max: 13 }), fc.integer({ min: 3, max: 13 }), (seed, h, w) => {
        const b = 4;
        const aug = cutmix({ labelSmoothing: 0 });
        const images = labelledImages(b, h, w);
        const targets = oneHot([0, 1, 2, 3], 4);
        const params = aug.sample(b, new Rng(seed));
        const [resolved] = aug.resolve(params, h, w);
        const out = aug.apply({ images, targets }, params);
        const pixels = out.images.arraySync() as number[][][][];
        const t = rows(out.targets);
        for (let i = 0; i < b; i++) {
          const partner = b - 1 - i;
          let pasted = 0;
          for (let y = 0; y < h; y++) {
            for (let x = 0; x < w; x++) {
              const v = pixels[i]![y]![x]![0]!;
              const box = resolved!.box!;
              const inside = y >= box.top && y < box.bottom && x >= box.left && x < box.right;
              expect(v).toBe(inside ? partner + 1 : i + 1);
              if (v === partner + 1) pasted++;
            }
          }
          expect(t[i]![partner]!).toBeCloseTo(pasted / (h * w), 6);
          expect(t[i]![i]!).toBeCloseTo(1 - pasted / (h * w), 6);
        }
        tf.dispose([images, targets, out.images, out.targets]);
      }),
      { seed: 42, numRuns: 25 },
    );
  });

  it('CutMix copies the partner pixels exactly and leaves every other pixel bit-identical', () => {
    const aug = cutmix({ labelSmoothing: 0 });
    const images = rampImages(4, 9, 11, 3);
    const targets = oneHot([0, 1, 2, 3], 4);
    const params: MixParams = { mode: 'batch', batchSize: 4, samples: [{ kind: 'cutmix', lambda: 0.5, center: { y: 0.2, x: 0.6 } }] };
    const box = aug.resolve(params, 9, 11)[0]!.box!;
    const out = aug.apply({ images, targets }, params);
    const src = images.arraySync();
    const got = out.images.arraySync();
    for (let i = 0; i < 4; i++)
      for (let y = 0; y < 9; y++)
        for (let x = 0; x < 11; x++) {
          const inside = y >= box.top && y < box.bottom && x >= box.left && x < box.right;
          expect(got[i]![y]![x]).toEqual(src[inside ? 3 - i : i]![y]![x]);
        }
    tf.dispose([images, targets, out.images, out.targets]);
  });

  it('Mixup blends λ·x + (1 − λ)·flip(x) and λ·ỹ + (1 − λ)·flip(ỹ) (float64 reference, tolerance 1e-5)', () => {
    const aug = new Mixup({ mixupAlpha: 0.8, labelSmoothing: 0.1 });
    const images = rampImages(2, 2, 3, 2);
    const targets = oneHot([0, 2], 3);
    const params = aug.sample(2, new Rng(7));
    const lam = params.samples[0]!.lambda;
    expect(params.samples[0]!.kind).toBe('mixup');
    const out = aug.apply({ images, targets }, params);
    const x = images.dataSync();
    const got = out.images.dataSync();
    const per = 2 * 3 * 2;
    for (let i = 0; i < got.length; i++) {
      const b = Math.floor(i / per);
      const partner = (1 - b) * per + (i % per);
      expect(Math.abs(got[i]! - (lam * x[i]! + (1 - lam) * x[partner]!))).toBeLessThan(1e-5);
    }
    const on = 0.9 + 0.1 / 3;
    const off = 0.1 / 3;
    const t = rows(out.targets);
    expect(t[0]![0]).toBeCloseTo(lam * on + (1 - lam) * off, 6);
    expect(t[0]![2]).toBeCloseTo(lam * off + (1 - lam) * on, 6);
    tf.dispose([images, targets, out.images, out.targets]);
  });

  it('is reproducible from a seed: same seed, same parameters and outputs; another seed differs', () => {
    const aug = new Mixup({ mixupAlpha: 0.8, cutmixAlpha: 1, switchProb: 0.5 });
    const images = rampImages(4, 8, 8, 3);
    const targets = oneHot([0, 1, 2, 3], 4);
    const run = (seed: number) => {
      const rng = new Rng(seed);
      const out = [0, 1, 2].map(() => {
        const p = aug.sample(4, rng);
        const o = aug.apply({ images, targets }, p);
        const r = { p, x: Array.from(o.images.dataSync()), y: Array.from(o.targets.dataSync()) };
        tf.dispose([o.images, o.targets]);
        return r;
      });
      return out;
    };
    expect(run(123)).toEqual(run(123));
    expect(run(124).map((r) => r.p)).not.toEqual(run(123).map((r) => r.p));
    tf.dispose([images, targets]);
  });

  it('switchProb decides CutMix vs Mixup; prob decides whether to mix at all', () => {
    const rng = new Rng(1);
    const kinds = (o: ConstructorParameters<typeof Mixup>[0]) => {
      const aug = new Mixup(o);
      return Array.from({ length: 400 }, () => aug.sample(2, rng).samples[0]!.kind);
    };
    const k = kinds({ mixupAlpha: 0.8, cutmixAlpha: 1, switchProb: 0.8 });
    const cutShare = k.filter((x) => x === 'cutmix').length / k.length;
    expect(cutShare).toBeGreaterThan(0.72);
    expect(cutShare).toBeLessThan(0.88);
    expect(new Set(kinds({ mixupAlpha: 0.8, cutmixAlpha: 1, prob: 0 }))).toEqual(new Set(['none']));
    expect(new Set(kinds({ mixupAlpha: 0, cutmixAlpha: 1 }))).toEqual(new Set(['cutmix']));
  });

  it('prob 0 leaves the images unchanged and the targets plainly smoothed (unchanged without smoothing)', () => {
    const images = rampImages(4, 5, 5, 3);
    const targets = oneHot([3, 1, 0, 2], 4);
    const off = new Mixup({ mixupAlpha: 1, cutmixAlpha: 1, prob: 0, labelSmoothing: 0 });
    const out = off.apply({ images, targets }, off.sample(4, new Rng(3)));
    expect(Array.from(out.images.dataSync())).toEqual(Array.from(images.dataSync()));
    expect(rows(out.targets)).toEqual(rows(targets));
    const smoothing = new Mixup({ mixupAlpha: 1, prob: 0, labelSmoothing: 0.1 });
    const out2 = smoothing.apply({ images, targets }, smoothing.sample(4, new Rng(3)));
    const reference = oneHot([3, 1, 0, 2], 4, 0.1);
    expect(tf.max(tf.abs(tf.sub(out2.targets, reference))).dataSync()[0]).toBeLessThan(1e-7);
    tf.dispose([images, targets, out.targets, out2.targets, reference]);
  });

  it('pair mode gives each pair (i, B-1-i) the λ of its own sample, in images and targets; elem mode gives each row its own λ', () => {
    const b = 8;
    const images = labelledImages(b, 8, 8);
    const targets = oneHot([0, 1, 2, 3, 4, 5, 6, 7], b);
    const pair = new Mixup({ mixupAlpha: 1, cutmixAlpha: 1, mode: 'pair', labelSmoothing: 0 });
    const params = pair.sample(b, new Rng(5));
    expect(params.samples).toHaveLength(b / 2);
    const out = pair.apply({ images, targets }, params);
    const t = rows(out.targets);
    const pixels = out.images.arraySync() as number[][][][];
    // Image i is the constant i + 1 and its partner B − i: each pixel's own-content weight is (v − (B − i)) / (i + 1 − (B − i)),
    // λ of a Mixup blend and 0/1 inside/outside a CutMix box, so the mean over pixels is the row's λ, read from the image alone.
    const pixelLambda = (i: number) => {
      const own = i + 1;
      const partner = b - i;
      const weights = pixels[i]!.flat(2).map((v) => (v - partner) / (own - partner));
      return weights.reduce((s, v) => s + v, 0) / weights.length;
    };
    const pairLambdas: number[] = [];
    params.samples.forEach((sample, p) => {
      const expected =
        sample.kind === 'none' ? 1 : sample.kind === 'mixup' ? sample.lambda : 1 - boxArea(cutmixBox(8, 8, sample.lambda, sample.center!), 8, 8);
      for (const i of [p, b - 1 - p]) {
        expect(pixelLambda(i), `pixels of row ${i} (pair ${p})`).toBeCloseTo(expected, 5);
        expect(t[i]![i], `own label of row ${i}`).toBeCloseTo(expected, 6);
        expect(t[i]![b - 1 - i], `partner label of row ${i}`).toBeCloseTo(1 - expected, 6);
      }
      pairLambdas.push(expected);
    });
    // The seed draws both kinds and different λ per pair, so batch mode (one λ for all) cannot pass.
    expect(new Set(params.samples.map((s) => s.kind))).toEqual(new Set(['mixup', 'cutmix']));
    expect(Math.max(...pairLambdas) - Math.min(...pairLambdas)).toBeGreaterThan(0.1);
    const elem = new Mixup({ mixupAlpha: 1, mode: 'elem', labelSmoothing: 0 });
    const ep = elem.sample(b, new Rng(5));
    expect(ep.samples).toHaveLength(b);
    const eo = elem.apply({ images, targets }, ep);
    const et = rows(eo.targets);
    et.forEach((row, i) => expect(row[i]).toBeCloseTo(ep.samples[i]!.lambda, 6));
    tf.dispose([images, targets, out.images, out.targets, eo.images, eo.targets]);
  });

  it('refuses an odd batch with a message that says why, before any compute', () => {
    const aug = new Mixup();
    expect(() => aug.sample(3, new Rng(0))).toThrow(/batchSize = 3 .*even.*reversed batch/);
    const images = tf.zeros([3, 4, 4, 3]) as tf.Tensor4D;
    const targets = oneHot([0, 1, 2], 3);
    const before = tf.memory().numTensors;
    expect(() => aug.apply({ images, targets }, { mode: 'batch', batchSize: 3, samples: [{ kind: 'mixup', lambda: 0.5 }] })).toThrow(/even/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([images, targets]);
  });

  it('refuses bad options naming them', () => {
    expect(() => new Mixup({ mixupAlpha: 0, cutmixAlpha: 0 })).toThrow(/mixup option mixupAlpha/);
    expect(() => new Mixup({ switchProb: 2 })).toThrow(/mixup option switchProb = 2/);
    expect(() => createAugmentation('mixup', { mode: 'half' })).toThrow(/mixup option mode = "half"/);
  });

  it('leaks no tensor across repeated batches', () => {
    const aug = new Mixup({ mixupAlpha: 0.8, cutmixAlpha: 1, mode: 'elem' });
    const images = rampImages(4, 6, 6, 3);
    const targets = oneHot([0, 1, 2, 3], 4);
    const rng = new Rng(9);
    const step = () => {
      const out = aug.apply({ images, targets }, aug.sample(4, rng));
      for (const t of new Set([out.images, out.targets])) if (t !== images) t.dispose();
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([images, targets]);
  });
});

describe('registration in core', () => {
  it('core contributes mixup and cutmix; createAugmentation builds them with timm options', () => {
    expect(Object.keys(corePlugin.augmentations ?? {}).sort()).toEqual(['cutmix', 'mixup']);
    expect(registry.listAugmentations().map((a) => a.name)).toEqual(expect.arrayContaining(['cutmix', 'mixup']));
    const c = createAugmentation('cutmix') as Mixup;
    expect(c.options).toMatchObject({ mixupAlpha: 0, cutmixAlpha: 1, prob: 1, mode: 'batch', labelSmoothing: 0.1 });
    const m = createAugmentation('mixup', { mixupAlpha: 0.8, cutmixAlpha: 1, switchProb: 0.5 }) as Mixup;
    expect(m.options).toMatchObject({ mixupAlpha: 0.8, cutmixAlpha: 1, switchProb: 0.5, correctLambda: true });
    expect(() => createAugmentation('mixupp')).toThrow(/Did you mean 'mixup'/);
  });

  it('each declared example builds and keeps rows that sum to 1 for any seed; together they reach Mixup, CutMix, every mode and no smoothing', () => {
    const kinds = new Set<string>();
    const modes = new Set<string>();
    for (const name of ['mixup', 'cutmix'] as const) {
      const examples = corePlugin.augmentations![name]!.examples!;
      expect(examples.length, name).toBeGreaterThanOrEqual(3);
      expect(examples[0], name).toEqual({});
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: examples.length - 1 }), (seed, e) => {
          const aug = createAugmentation(name, examples[e]!, registry) as Mixup;
          const images = rampImages(4, 6, 5, 1);
          const targets = oneHot([0, 1, 2, 2], 3);
          const params = aug.sample(4, new Rng(seed));
          for (const s of params.samples) kinds.add(`${name}:${s.kind}`);
          modes.add(aug.options.mode);
          const out = aug.apply({ images, targets }, params);
          for (const row of rows(out.targets)) expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
          tf.dispose([images, targets, out.images, out.targets]);
        }),
        { seed: 7, numRuns: 24 },
      );
      expect(examples.some((x) => x.labelSmoothing === 0), name).toBe(true);
    }
    expect([...kinds].sort()).toEqual(['cutmix:cutmix', 'cutmix:none', 'mixup:cutmix', 'mixup:mixup', 'mixup:none']);
    expect([...modes].sort()).toEqual(['batch', 'elem', 'pair']);
  });
});
