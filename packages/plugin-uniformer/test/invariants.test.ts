import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ForwardContext, loadTorchStateDict, Rng, setBackend, tf } from '@tessera/core';
import { DynamicPositionEmbedding, GlobalBlock, LocalBlock } from '../src/index.js';
import { expectRelClose, reference, toState } from './helpers.js';

/* Properties of the blocks from the paper (papers.md §5.5), on the fixture weights (random, not the tiny init). */

const evalCtx = () => new ForwardContext(false);
const spec = (height: number, width: number, channels: number) => ({ layout: 'image' as const, height, width, channels });

beforeAll(async () => {
  await setBackend('wasm');
});

function localBlock(): LocalBlock {
  const f = reference.blocks.cblock;
  const block = new LocalBlock(spec(6, 7, f.dim), { mlpRatio: f.mlpRatio }, new Rng(0));
  loadTorchStateDict(block, toState(f.state));
  return block;
}

function globalBlock(name: 'sablock' | 'sablock_ls'): GlobalBlock {
  const f = reference.blocks[name];
  const block = new GlobalBlock(spec(3, 5, f.dim), { headDim: f.dim / f.numHeads, mlpRatio: f.mlpRatio, layerScale: name === 'sablock_ls' ? 1e-6 : null }, new Rng(0));
  loadTorchStateDict(block, toState(f.state));
  return block;
}

describe('DPE', () => {
  it('with zero weights and bias is the identity, for any grid', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 5 }), fc.nat(), (h, w, c, seed) => {
        const dpe = new DynamicPositionEmbedding(c, new Rng(seed));
        dpe.weight.assign(tf.zerosLike(dpe.weight));
        dpe.bias!.assign(tf.zerosLike(dpe.bias!));
        const x = tf.randomNormal([2, h, w, c], 0, 1, 'float32', seed) as tf.Tensor4D;
        const y = dpe.embed(x);
        expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
        tf.dispose([x, y]);
        dpe.dispose();
      }),
      { seed: 7, numRuns: 20 },
    );
  });
});

describe('CBlock', () => {
  it('is translation-equivariant more than 3 pixels away from the borders (eval mode)', () => {
    const block = localBlock();
    const size = 16;
    const radius = 3; // DPE 3×3 (1) + depthwise 5×5 (2); the 1×1 convs and BN are pointwise
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 4 }), fc.nat(), (dy, dx, seed) => {
        tf.tidy(() => {
          const big = tf.randomNormal([1, size + dy, size + dx, 8], 0, 1, 'float32', seed) as tf.Tensor4D;
          const a = tf.slice(big, [0, 0, 0, 0], [1, size, size, 8]) as tf.Tensor4D;
          const b = tf.slice(big, [0, dy, dx, 0], [1, size, size, 8]) as tf.Tensor4D;
          const ya = block.forwardGrid(a, evalCtx());
          const yb = block.forwardGrid(b, evalCtx());
          // b[i, j] = a[i + dy, j + dx], so the interiors must agree after the shift.
          const n = size - 2 * radius - Math.max(dy, dx);
          const interiorA = tf.slice(ya, [0, radius + dy, radius + dx, 0], [1, n, n, 8]);
          const interiorB = tf.slice(yb, [0, radius, radius, 0], [1, n, n, 8]);
          expectRelClose(interiorB.dataSync(), interiorA.dataSync(), 1e-5, `shift (${dy}, ${dx})`);
          // At the border the zero padding breaks equivariance: the property is not vacuous.
          const edgeA = tf.slice(ya, [0, dy, dx, 0], [1, 1, 1, 8]).dataSync();
          const edgeB = tf.slice(yb, [0, 0, 0, 0], [1, 1, 1, 8]).dataSync();
          expect(Math.max(...edgeA.map((v, i) => Math.abs(v - edgeB[i]!)))).toBeGreaterThan(1e-3);
        });
      }),
      { seed: 11, numRuns: 12 },
    );
  });
});

describe('SABlock', () => {
  it('with the DPE zeroed is permutation-equivariant over tokens', () => {
    const block = globalBlock('sablock');
    block.posEmbed.weight.assign(tf.zerosLike(block.posEmbed.weight));
    block.posEmbed.bias!.assign(tf.zerosLike(block.posEmbed.bias!));
    const n = 15; // the 3×5 grid
    fc.assert(
      fc.property(fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }), fc.nat(), (perm, seed) => {
        tf.tidy(() => {
          const x = tf.randomNormal([2, 3, 5, 16], 0, 1, 'float32', seed) as tf.Tensor4D;
          const index = tf.tensor1d(perm, 'int32');
          const permute = (t: tf.Tensor4D) => tf.reshape(tf.gather(tf.reshape(t, [2, n, 16]), index, 1), [2, 3, 5, 16]) as tf.Tensor4D;
          const y = block.forwardGrid(x, evalCtx());
          expectRelClose(block.forwardGrid(permute(x), evalCtx()).dataSync(), permute(y).dataSync(), 1e-5, `perm ${perm}`);
        });
      }),
      { seed: 5, numRuns: 15 },
    );
  });

  it('with the DPE in place is not permutation-equivariant (the DPE carries position)', () => {
    const block = globalBlock('sablock');
    tf.tidy(() => {
      const x = tf.randomNormal([1, 3, 5, 16], 0, 1, 'float32', 3) as tf.Tensor4D;
      const flip = (t: tf.Tensor4D) => tf.reverse(t, [1, 2]) as tf.Tensor4D;
      const a = block.forwardGrid(flip(x), evalCtx()).dataSync();
      const b = flip(block.forwardGrid(x, evalCtx())).dataSync();
      expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!)))).toBeGreaterThan(1e-3);
    });
  });

  it('with LayerScale γ = 0 reduces to the DPE alone', () => {
    const block = globalBlock('sablock_ls');
    block.gamma1!.assign(tf.zerosLike(block.gamma1!));
    block.gamma2!.assign(tf.zerosLike(block.gamma2!));
    tf.tidy(() => {
      const x = tf.randomNormal([2, 4, 3, 16], 0, 1, 'float32', 9) as tf.Tensor4D;
      expectRelClose(block.forwardGrid(x, evalCtx()).dataSync(), block.posEmbed.embed(x).dataSync(), 1e-7, 'γ = 0');
    });
  });

  it('refuses a headDim that does not divide the channels, naming both', () => {
    expect(() => new GlobalBlock(spec(2, 2, 20), { headDim: 8 }, new Rng(0))).toThrow(/headDim 8 does not divide the grid's 20 channels/);
  });
});
