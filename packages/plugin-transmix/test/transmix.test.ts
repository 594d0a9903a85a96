import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  attachAugmentations,
  createAugmentation,
  createModelFromSpec,
  Mixup,
  oneHot,
  registry,
  Rng,
  setBackend,
  softTargetCrossEntropy,
  tf,
  use,
  type MixBox,
  type MixParams,
  type ModelOutputs,
} from '@tessera/core';
import pkg from '../package.json' with { type: 'json' };
import transmixDefault, { attentionLambda, boxMaskOnGrid, TransMix, transmixPlugin } from '../src/index.js';

beforeAll(async () => {
  await setBackend('wasm');
});

interface MaskCase {
  image: [number, number];
  grid: [number, number];
  box: MixBox;
  mask: number[];
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/nearest-masks.json', import.meta.url), 'utf8')) as { cases: MaskCase[] };

/** A CutMix batch with a chosen box: the centre and λ that timm's rand_bbox turns into it. */
function cutmixParams(batchSize: number, lambda: number, center: { y: number; x: number }): MixParams {
  return { mode: 'batch', batchSize, samples: [{ kind: 'cutmix', lambda, center }] };
}

function outputsFor(probs: number[][][], grid: { height: number; width: number }): ModelOutputs {
  const b = probs.length;
  return { logits: tf.zeros([b, 4]) as tf.Tensor2D, clsAttention: { probs: tf.tensor3d(probs), grid } };
}

function disposeOutputs(o: ModelOutputs): void {
  tf.dispose([o.logits, ...(o.clsAttention ? [o.clsAttention.probs] : [])]);
}

const rows = (t: tf.Tensor): number[][] => t.arraySync() as number[][];

describe('boxMaskOnGrid', () => {
  it("matches PyTorch's legacy nearest nn.Upsample on every fixture case (exact; square, non-square, non-divisible sizes)", () => {
    for (const c of fixture.cases) {
      const mask = boxMaskOnGrid(c.box, { height: c.image[0], width: c.image[1] }, { height: c.grid[0], width: c.grid[1] });
      expect(Array.from(mask), JSON.stringify(c.box)).toEqual(c.mask);
    }
  });

  it('counts a token as inside when its top-left pixel (⌊i·H/h⌋, ⌊j·W/w⌋) is inside the box', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 5 }), fc.nat(), fc.nat(), fc.nat(), fc.nat(), (h, w, p, a, b, c, d) => {
        const H = h * p + (a % 3);
        const W = w * p + (b % 3);
        const [top, bottom] = [a % (H + 1), c % (H + 1)].sort((x, y) => x - y) as [number, number];
        const [left, right] = [b % (W + 1), d % (W + 1)].sort((x, y) => x - y) as [number, number];
        const mask = boxMaskOnGrid({ top, bottom, left, right }, { height: H, width: W }, { height: h, width: w });
        for (let i = 0; i < h; i++)
          for (let j = 0; j < w; j++) {
            const y = Math.floor((i * H) / h);
            const x = Math.floor((j * W) / w);
            expect(mask[i * w + j]).toBe(y >= top && y < bottom && x >= left && x < right ? 1 : 0);
          }
      }),
      { seed: 42, numRuns: 60 },
    );
  });

  it('refuses a box outside the image', () => {
    expect(() => boxMaskOnGrid({ top: 0, bottom: 9, left: 0, right: 2 }, { height: 8, width: 8 }, { height: 2, width: 2 })).toThrow(/box = .*inside the 8x8 image/);
  });
});

describe('attentionLambda', () => {
  it('is the fraction of tokens inside the box for uniform attention', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 4 }), (bits, heads) => {
        const mask = Float32Array.from(bits, (v) => (v ? 1 : 0));
        const n = mask.length;
        const probs = tf.fill([2, heads, n], 1 / (n + 1)) as tf.Tensor3D;
        const lam = attentionLambda(probs, mask, 0.5);
        const expected = bits.filter(Boolean).length / n;
        for (const v of lam.dataSync()) expect(v).toBeCloseTo(expected, 5);
        tf.dispose([probs, lam]);
      }),
      { seed: 42, numRuns: 30 },
    );
  });

  it('stays in [0, 1] for any non-negative attention, and complements: λ(M) + λ(1 − M) = 1', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }).chain((n) =>
          fc.tuple(fc.array(fc.boolean(), { minLength: n, maxLength: n }), fc.array(fc.float({ min: 0, max: 1000, noNaN: true }), { minLength: 2 * n, maxLength: 2 * n })),
        ),
        ([bits, values]) => {
          const n = bits.length;
          const mask = Float32Array.from(bits, (v) => (v ? 1 : 0));
          const complement = mask.map((v) => 1 - v);
          const probs = tf.tensor3d(values, [1, 2, n]);
          const a = attentionLambda(probs, mask, 0.25);
          const c = attentionLambda(probs, complement, 0.75);
          const [x] = a.dataSync();
          const [y] = c.dataSync();
          expect(x).toBeGreaterThanOrEqual(0);
          expect(x).toBeLessThanOrEqual(1);
          if (values.some((v) => v > 0)) expect(x! + y!).toBeCloseTo(1, 4);
          else expect(x).toBe(0.25);
          tf.dispose([probs, a, c]);
        },
      ),
      { seed: 42, numRuns: 60 },
    );
  });
});

describe('TransMix targets', () => {
  it('on a hand-computed 4x4 grid: λ_area 16/64, λ_attn 36/136, λ = their mean 35/136 (tolerance 1e-6)', () => {
    // 8x8 images, 2x2 patches; Beta draw λ = 0.625 with centre pixel (3, 5).
    const transmix = new TransMix({ labelSmoothing: 0 });
    const params = cutmixParams(2, 0.625, { y: 3 / 8, x: 5 / 8 });
    const [resolved] = transmix.mix.resolve(params, 8, 8);
    // r = √0.375 = 0.612, cut = int(8·0.612) = 4, half 2: rows [1, 5), columns [3, 7).
    expect(resolved!.box).toEqual({ top: 1, bottom: 5, left: 3, right: 7 });
    // Tokens read pixels 0, 2, 4, 6: rows 1, 2 (pixels 2, 4) and columns 2, 3 (pixels 4, 6) are inside.
    expect(Array.from(boxMaskOnGrid(resolved!.box!, { height: 8, width: 8 }, { height: 4, width: 4 }))).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0]);
    // Head 0 puts (n + 1)/136 on token n, head 1 is uniform 1/16. Inside tokens 6, 7, 10, 11.
    const head0 = Array.from({ length: 16 }, (_, n) => (n + 1) / 136);
    const head1 = Array.from({ length: 16 }, () => 1 / 16);
    const attnLambda = ((7 + 8 + 11 + 12) / 136 + 4 / 16) / 2;
    const areaLambda = 16 / 64;
    const lambda = (areaLambda + attnLambda) / 2;
    expect(lambda).toBeCloseTo(35 / 136, 12);
    const outputs = outputsFor([[head0, head1], [head1, head1]], { height: 4, width: 4 });
    const images = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
    const targets = oneHot([0, 1], 4);
    const t = rows(transmix.afterForward({ images, targets }, params, outputs));
    expect(t[0]![0]).toBeCloseTo(1 - lambda, 6);
    expect(t[0]![1]).toBeCloseTo(lambda, 6);
    // Row 1 has uniform attention: λ_attn = 4/16.
    const uniform = (areaLambda + 4 / 16) / 2;
    expect(t[1]![1]).toBeCloseTo(1 - uniform, 6);
    expect(t[1]![0]).toBeCloseTo(uniform, 6);
    const pure = new TransMix({ labelSmoothing: 0, lambda: 'attention' });
    const tp = rows(pure.afterForward({ images, targets }, params, outputs));
    expect(tp[0]![1]).toBeCloseTo(attnLambda, 6);
    disposeOutputs(outputs);
    tf.dispose([images, targets]);
  });

  it('attention all inside the box gives λ = (λ_area + 1)/2, all outside λ_area/2 (λ_attn 1 and 0)', () => {
    const transmix = new TransMix({ labelSmoothing: 0 });
    const pure = new TransMix({ labelSmoothing: 0, lambda: 'attention' });
    const params = cutmixParams(2, 0.625, { y: 3 / 8, x: 5 / 8 });
    const inside = Array.from({ length: 16 }, (_, n) => ([6, 7, 10, 11].includes(n) ? 0.25 : 0));
    const outside = Array.from({ length: 16 }, (_, n) => ([6, 7, 10, 11].includes(n) ? 0 : 1 / 12));
    const outputs = outputsFor([[inside], [outside]], { height: 4, width: 4 });
    const images = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
    const targets = oneHot([2, 3], 4);
    const t = rows(transmix.afterForward({ images, targets }, params, outputs));
    expect(t[0]![3]).toBeCloseTo((0.25 + 1) / 2, 6);
    expect(t[1]![2]).toBeCloseTo(0.25 / 2, 6);
    const tp = rows(pure.afterForward({ images, targets }, params, outputs));
    expect(tp[0]).toEqual([0, 0, 0, 1]);
    expect(tp[1]).toEqual([0, 0, 0, 1]);
    disposeOutputs(outputs);
    tf.dispose([images, targets]);
  });

  it('uniform attention gives λ_attn = fraction of tokens in the downsampled box, and λ in [0, 1] with rows summing to 1 for any attention and box', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.float({ min: 0, max: 1, noNaN: true }), { minLength: 4 * 16, maxLength: 4 * 16 }),
        (seed, gh, gw, values) => {
          const transmix = new TransMix({ labelSmoothing: 0.1, prob: 1, switchProb: 1 });
          const [height, width] = [gh * 4, gw * 4];
          const n = gh * gw;
          const params = transmix.sample(2, new Rng(seed));
          const [resolved] = transmix.mix.resolve(params, height, width);
          const images = tf.zeros([2, height, width, 1]) as tf.Tensor4D;
          const targets = oneHot([0, 1], 2);
          const probs = [
            [values.slice(0, n), values.slice(n, 2 * n)],
            [Array.from({ length: n }, () => 1 / n), Array.from({ length: n }, () => 1 / n)],
          ];
          const outputs = outputsFor(probs, { height: gh, width: gw });
          const t = rows(transmix.afterForward({ images, targets }, params, outputs));
          const on = 0.9 + 0.05;
          const off = 0.05;
          for (const row of t) {
            expect(row[0]! + row[1]!).toBeCloseTo(1, 5);
            expect(Math.min(...row)).toBeGreaterThanOrEqual(off - 1e-6);
            expect(Math.max(...row)).toBeLessThanOrEqual(on + 1e-6);
          }
          if (resolved!.kind === 'cutmix') {
            const mask = boxMaskOnGrid(resolved!.box!, { height, width }, { height: gh, width: gw });
            const tokenFraction = mask.reduce((s, v) => s + v, 0) / n;
            const lambda = (1 - resolved!.lambda + tokenFraction) / 2;
            expect(t[1]![0]).toBeCloseTo(off + (on - off) * lambda, 5);
          }
          disposeOutputs(outputs);
          tf.dispose([images, targets]);
        },
      ),
      { seed: 42, numRuns: 25 },
    );
  });

  it('handles a non-square 2x3 grid from 16x24 images (hand-computed)', () => {
    const transmix = new TransMix({ labelSmoothing: 0 });
    // λ = 0.5: r = 0.7071, cut 11 x 16, halves 5 and 8; centre (8, 6): rows [3, 13), columns [0, 14).
    const params = cutmixParams(2, 0.5, { y: 8 / 16, x: 6 / 24 });
    const [resolved] = transmix.mix.resolve(params, 16, 24);
    expect(resolved!.box).toEqual({ top: 3, bottom: 13, left: 0, right: 14 });
    // Token rows read pixels 0, 8; columns 0, 8, 16: inside tokens (1, 0) and (1, 1).
    const mask = boxMaskOnGrid(resolved!.box!, { height: 16, width: 24 }, { height: 2, width: 3 });
    expect(Array.from(mask)).toEqual([0, 0, 0, 1, 1, 0]);
    const attention = [0.1, 0.1, 0.2, 0.3, 0.2, 0.1];
    const outputs = outputsFor([[attention], [attention]], { height: 2, width: 3 });
    const images = tf.zeros([2, 16, 24, 3]) as tf.Tensor4D;
    const targets = oneHot([0, 1], 4);
    const t = rows(transmix.afterForward({ images, targets }, params, outputs));
    const lambda = ((10 * 14) / (16 * 24) + 0.5) / 2;
    expect(t[0]![1]).toBeCloseTo(lambda, 6);
    expect(t[0]![0]).toBeCloseTo(1 - lambda, 6);
    disposeOutputs(outputs);
    tf.dispose([images, targets]);
  });

  it('Mixup and unmixed batches keep their plain label, identical to core Mixup', () => {
    const transmix = new TransMix();
    const mixup = new Mixup({ mixupAlpha: 0.8, cutmixAlpha: 1, labelSmoothing: 0.1 });
    const images = tf.zeros([4, 8, 8, 3]) as tf.Tensor4D;
    const targets = oneHot([0, 1, 2, 3], 4);
    const outputs = outputsFor(Array.from({ length: 4 }, () => [Array.from({ length: 16 }, (_, n) => n / 120)]), { height: 4, width: 4 });
    for (const params of [
      { mode: 'batch', batchSize: 4, samples: [{ kind: 'mixup', lambda: 0.3 }] },
      { mode: 'batch', batchSize: 4, samples: [{ kind: 'none', lambda: 1 }] },
    ] as MixParams[]) {
      const a = transmix.afterForward({ images, targets }, params, outputs);
      const b = mixup.mixTargets(targets, params, 8, 8);
      expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
      tf.dispose([a, b]);
    }
    disposeOutputs(outputs);
    tf.dispose([images, targets]);
  });

  it('sends no gradient into the attention: d loss / d attention is zero', () => {
    const transmix = new TransMix({ labelSmoothing: 0.1 });
    const params = cutmixParams(2, 0.625, { y: 3 / 8, x: 5 / 8 });
    const images = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
    const targets = oneHot([0, 1], 4);
    const logits = tf.tensor2d([
      [0.3, -1, 2, 0.5],
      [1, 0, -0.5, 0.2],
    ]);
    const attention = tf.tensor3d(Array.from({ length: 2 * 3 * 16 }, (_, i) => ((i * 7) % 11) / 50), [2, 3, 16]);
    const loss = (probs: tf.Tensor) => {
      const targetsOut = transmix.afterForward({ images, targets }, params, { logits, clsAttention: { probs: probs as tf.Tensor3D, grid: { height: 4, width: 4 } } });
      return softTargetCrossEntropy(logits, targetsOut);
    };
    const value = loss(attention);
    const grad = tf.grad(loss)(attention);
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    expect(Math.max(...Array.from(grad.dataSync()).map(Math.abs))).toBe(0);
    tf.dispose([images, targets, logits, attention, value, grad]);
  });

  it('accepts the batch apply returned as well as the one it was given (same targets), leak-free', () => {
    const transmix = new TransMix({ switchProb: 1 });
    const images = tf.tensor4d(Float32Array.from({ length: 4 * 8 * 8 * 3 }, (_, i) => Math.cos(i)), [4, 8, 8, 3]);
    const targets = oneHot([0, 1, 2, 3], 4);
    const outputs = outputsFor(Array.from({ length: 4 }, (_, b) => [Array.from({ length: 16 }, (_, n) => ((n + b) % 5) / 40)]), { height: 4, width: 4 });
    const rng = new Rng(4);
    const step = () => {
      const params = transmix.sample(4, rng);
      const mixed = transmix.apply({ images, targets }, params);
      const fromInput = transmix.afterForward({ images, targets }, params, outputs);
      const fromMixed = transmix.afterForward(mixed, params, outputs);
      expect(Array.from(fromMixed.dataSync())).toEqual(Array.from(fromInput.dataSync()));
      tf.dispose([fromInput, fromMixed, mixed.targets, ...(mixed.images === images ? [] : [mixed.images])]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    disposeOutputs(outputs);
    tf.dispose([images, targets]);
  });

  it('says what is missing when the forward pass did not return clsAttention', () => {
    const transmix = new TransMix();
    const images = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
    const targets = oneHot([0, 1], 4);
    const logits = tf.zeros([2, 4]) as tf.Tensor2D;
    expect(() => transmix.afterForward({ images, targets }, cutmixParams(2, 0.5, { y: 0.5, x: 0.5 }), { logits })).toThrow(/outputs.clsAttention .*outputs: \['clsAttention'\]/);
    tf.dispose([images, targets, logits]);
  });
});

describe('plugin and model check', () => {
  it('exports the plugin as named and default export; registered, it provides the transmix augmentation with the official defaults', () => {
    expect(transmixDefault).toBe(transmixPlugin);
    expect(transmixPlugin).toMatchObject({ name: '@tessera/plugin-transmix', version: pkg.version, coreRange: '^1.0.0' });
    use(transmixPlugin);
    expect(registry.getAugmentation('transmix').plugin).toBe('@tessera/plugin-transmix');
    const t = createAugmentation('transmix') as TransMix;
    expect(t.options).toEqual({ mixupAlpha: 0.8, cutmixAlpha: 1, prob: 1, switchProb: 0.5, correctLambda: true, labelSmoothing: 0.1, lambda: 'mean' });
    expect(t.mix.options.mode).toBe('batch');
    expect(() => createAugmentation('transmix', { lambda: 'area' })).toThrow(/transmix option lambda = "area"/);
    expect(() => new TransMix({ cutmixAlpha: 0 })).toThrow(/transmix option cutmixAlpha = 0/);
    expect(() => new TransMix({ mode: 'elem' } as never)).toThrow(/transmix option/);
  });

  it('declares examples its options accept that reach what the defaults do not: CutMix on every batch with Eq. 5 λ unsmoothed, partial mixing', () => {
    const examples = transmixPlugin.augmentations!.transmix!.examples!;
    expect(examples[0]).toEqual({});
    const kinds = examples.map((example) => {
      const t = createAugmentation('transmix', example) as TransMix;
      const drawn = new Set<string>();
      for (let seed = 0; seed < 40; seed++) drawn.add(t.sample(4, new Rng(seed)).samples[0]!.kind);
      return [t.options.lambda, t.options.labelSmoothing, [...drawn].sort().join('+')];
    });
    expect(kinds).toEqual([
      ['mean', 0.1, 'cutmix+mixup'],
      ['attention', 0, 'cutmix'],
      ['mean', 0.1, 'cutmix+mixup+none'],
    ]);
  });

  it('refuses, when attached, a model without a class token feeding attention, saying why TransMix needs one', () => {
    const noClassToken = createModelFromSpec({
      name: 'avg_pool_vit',
      imgSize: 16,
      numClasses: 4,
      stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 16 } },
      stages: [{ block: 'transformer', options: { numHeads: 2, mlpRatio: 2 } }],
      head: { block: 'classifier', options: { pool: 'avg' } },
    });
    const transmix = new TransMix();
    expect(() => transmix.checkModel(noClassToken)).toThrow(/model = "avg_pool_vit" .*'clsAttention'.*class token.*class_token block/);
    expect(() => attachAugmentations(noClassToken, transmix)).toThrow(/TransMix re-weights/);
    const withClassToken = createModelFromSpec({
      imgSize: 16,
      numClasses: 4,
      stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 16 } },
      stages: [{ block: 'class_token' }, { block: 'transformer', options: { numHeads: 2, mlpRatio: 2 } }],
      head: { block: 'classifier' },
    });
    expect(attachAugmentations(withClassToken, transmix)).toBe(transmix);
    noClassToken.dispose();
    withClassToken.dispose();
  });
});
