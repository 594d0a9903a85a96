import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, setBackend, tf } from '@tessera/core';
import { FlexiPatchEmbed, resampleGridEmbedding } from '../src/index.js';
import { expectNoLeak, fixtureTensor, maxAbsDiff, reference } from './helpers.js';

beforeAll(async () => {
  await setBackend('cpu');
});

const { config } = reference;
const nativeGrid = config.img_size / config.patch_size;

describe('FlexiPatchEmbed', () => {
  it("PI-resizes the stored kernel as timm's FlexiViT checkpoint filter does (float64 fixtures)", () => {
    const embed = new FlexiPatchEmbed(config.patch_size, 3, config.embed_dim, new Rng(0));
    const stored = tf.tidy(() => tf.transpose(fixtureTensor(reference.state_dict['patch_embed.proj.weight']!), [2, 3, 1, 0]));
    embed.proj.weight.assign(stored);
    for (const [p, entry] of Object.entries(reference.resampled)) {
      const got = tf.tidy(() => tf.transpose(embed.kernelFor(Number(p)), [3, 2, 0, 1]));
      expect(got.shape).toEqual(entry['patch_embed.proj.weight'].shape);
      // Float32 matmuls against float64: 1e-5 for kernel entries of O(0.3).
      expect(maxAbsDiff(got, entry['patch_embed.proj.weight'].data)).toBeLessThan(1e-5);
      got.dispose();
    }
    stored.dispose();
    embed.dispose();
  });

  it('gives (n/p)² tokens for every patch size and always resizes from the stored kernel', () => {
    const embed = new FlexiPatchEmbed(8, 3, 4, new Rng(1));
    const images = tf.randomNormal([1, 24, 24, 3]) as tf.Tensor4D;
    const before = embed.proj.weight.dataSync().slice();
    for (const p of [1, 2, 3, 4, 6, 8, 12, 24]) {
      const { tokens, grid } = embed.forward(images, p);
      expect(tokens.shape).toEqual([1, (24 / p) ** 2, 4]);
      expect(grid).toEqual({ height: 24 / p, width: 24 / p });
      tokens.dispose();
    }
    // Resizing never touches the stored kernel, and the resize at the base size is the kernel itself.
    expect(embed.proj.weight.dataSync()).toEqual(before);
    const same = embed.kernelFor(8);
    expect(same.dataSync()).toEqual(before);
    same.dispose();
    // A resize of a resize is not a resize of the stored kernel (32→8→32 ≠ identity, papers.md §4.6).
    tf.tidy(() => {
      const direct = embed.kernelFor(12);
      const relay = new FlexiPatchEmbed(4, 3, 4, new Rng(2));
      relay.proj.weight.assign(embed.kernelFor(4));
      expect(maxAbsDiff(relay.kernelFor(12), direct.dataSync())).toBeGreaterThan(1e-3);
      relay.dispose();
    });
    expect(() => embed.forward(images, 25)).toThrow(/patchSize = 25/);
    expect(() => embed.forward(images, 0)).toThrow(/patchSize/);
    images.dispose();
    embed.dispose();
  });

  it('sends the gradient of every patch size to the stored kernel, without leaking', () => {
    const embed = new FlexiPatchEmbed(8, 3, 4, new Rng(3));
    const images = tf.randomNormal([2, 24, 24, 3]) as tf.Tensor4D;
    const step = (p: number) => {
      const { value, grads } = tf.variableGrads(() => {
        const { tokens } = embed.forward(images, p);
        return tf.sum(tf.square(tokens)) as tf.Scalar;
      }, [embed.proj.weight]);
      expect(grads[embed.proj.weight.name]!.shape).toEqual([8, 8, 3, 4]);
      expect(tf.tidy(() => tf.sum(tf.abs(grads[embed.proj.weight.name]!)).dataSync()[0]!)).toBeGreaterThan(0);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step(6);
    for (const p of [4, 12, 3, 8]) expectNoLeak(() => step(p));
    images.dispose();
    embed.dispose();
  });
});

describe('resampleGridEmbedding', () => {
  it("equals timm's resample_abs_pos_embed (bilinear, no antialias) for a grid enlarged and shrunk", () => {
    const stored = fixtureTensor(reference.state_dict.pos_embed!);
    for (const [p, entry] of Object.entries(reference.resampled)) {
      const n = config.img_size / Number(p);
      const got = resampleGridEmbedding(stored, { height: nativeGrid, width: nativeGrid }, { height: n, width: n }, false);
      expect(got.shape).toEqual(entry.pos_embed.shape);
      // timm interpolates in float32: 1e-5 for O(0.3) entries.
      expect(maxAbsDiff(got, entry.pos_embed.data)).toBeLessThan(1e-5);
      got.dispose();
    }
    stored.dispose();
  });

  it("with antialias equals PyTorch's antialiased bilinear (the triangle big_vision's jax.image.resize 'linear' uses)", () => {
    const table = fixtureTensor(reference.posemb_antialias.table);
    for (const [n, data] of Object.entries(reference.posemb_antialias.resized)) {
      const size = Number(n);
      const got = resampleGridEmbedding(table, { height: 7, width: 7 }, { height: size, width: size }, true);
      expect(maxAbsDiff(got, data)).toBeLessThan(1e-5);
      got.dispose();
    }
    const same = resampleGridEmbedding(table, { height: 7, width: 7 }, { height: 7, width: 7 }, true);
    expect(same.dataSync()).toEqual(table.dataSync());
    same.dispose();
    expect(() => resampleGridEmbedding(table, { height: 6, width: 6 }, { height: 7, width: 7 }, true)).toThrow(/posEmbed/);
    table.dispose();
  });

  it('passes gradients to the stored table and does not leak', () => {
    const table = tf.variable(tf.randomNormal([1, 12, 3]));
    const step = () => {
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.square(resampleGridEmbedding(table, { height: 3, width: 4 }, { height: 5, width: 2 }, true))) as tf.Scalar,
        [table],
      );
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    expectNoLeak(step);
    table.dispose();
  });
});

