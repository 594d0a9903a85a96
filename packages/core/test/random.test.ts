import fc from 'fast-check';
import { xoroshiro128plus, xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import { beforeAll, describe, expect, it } from 'vitest';
import { kaimingNormalFanOut, Rng, setBackend, truncatedNormalValues } from '../src/index.js';
import { approximateCosTurn, approximateLog } from '../src/tensor/normal-values.js';
import { Xoroshiro128Plus } from '../src/tensor/xoroshiro128plus.js';

describe('Rng', () => {
  it('is deterministic from its seed, and restores from a saved state mid-stream', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 0, max: 50 }), (seed, skip) => {
        const a = new Rng(seed);
        const b = new Rng(seed);
        for (let i = 0; i < skip; i++) expect(a.uniform()).toBe(b.uniform());
        const saved = JSON.parse(JSON.stringify(a.getState()));
        const expected = [a.uniform(), a.int(10), a.normal(), a.beta(0.8, 0.8), a.seed()];
        const r = Rng.fromState(saved);
        expect([r.uniform(), r.int(10), r.normal(), r.beta(0.8, 0.8), r.seed()]).toEqual(expected);
      }),
      { seed: 42, numRuns: 50 },
    );
  });

  it('draws uniforms in [0, 1) and Beta samples with the right mean', () => {
    const rng = new Rng(1);
    let sum = 0;
    for (let i = 0; i < 20000; i++) {
      const u = rng.uniform();
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      sum += rng.beta(2, 6);
    }
    // E[Beta(2, 6)] = 0.25; standard error ≈ 0.0011.
    expect(Math.abs(sum / 20000 - 0.25)).toBeLessThan(0.006);
  });

  it('Beta stays a number in [0, 1] for tiny alphas, where both gamma draws underflow', () => {
    const rng = new Rng(2);
    let extremes = 0;
    for (let i = 0; i < 2000; i++) {
      const v = rng.beta(1e-3, 1e-3);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
      if (v < 0.01 || v > 0.99) extremes++;
    }
    // Beta(ε, ε) puts nearly all its mass at the two ends, half on each.
    expect(extremes).toBeGreaterThan(1900);
  });

  it('forks independent streams', () => {
    const rng = new Rng(5);
    const child = rng.fork();
    expect(child.uniform()).not.toBe(rng.uniform());
  });

  it('refuses a non-integer seed and a foreign state', () => {
    expect(() => new Rng(1.5)).toThrow(/seed = 1.5 is not accepted: expected an integer/);
    expect(() => Rng.fromState({ algorithm: 'mt' } as never)).toThrow(/rng state/);
  });

  it('truncated normal respects its absolute bounds', () => {
    const v = truncatedNormalValues(new Rng(0), 5000, 1, 0, -0.5, 0.5);
    expect(Math.max(...v)).toBeLessThanOrEqual(0.5);
    expect(Math.min(...v)).toBeGreaterThanOrEqual(-0.5);
  });
});

/**
 * The generator and the samplers as they were before the bulk sampler, on pure-rand's
 * xoroshiro128plus: the reference that seeds, saved states and initial weights of
 * earlier versions came from. The new code must reproduce it bit for bit.
 */
class ReferenceRng {
  private generator: ReturnType<typeof xoroshiro128plus>;
  constructor(seed: number, state?: readonly number[]) {
    this.generator = state ? xoroshiro128plusFromState(state) : xoroshiro128plus(seed | 0);
    if (!state) for (let i = 0; i < 16; i++) this.generator.next();
  }
  state(): number[] {
    return [...this.generator.getState()];
  }
  fork(): ReferenceRng {
    const child = new ReferenceRng(0, this.state());
    child.generator.jump();
    this.generator.next();
    return child;
  }
  uint32(): number {
    return this.generator.next() >>> 0;
  }
  uniform(): number {
    const hi = this.uint32() >>> 5;
    const lo = this.uint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }
  normal(): number {
    let u = this.uniform();
    while (u <= Number.MIN_VALUE) u = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
  truncatedNormal(size: number, std: number, mean = 0, a = -2, b = 2): Float32Array {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      let v: number;
      do v = mean + std * this.normal();
      while (v < a || v > b);
      out[i] = v;
    }
    return out;
  }
}

const sameBits = (a: Float32Array, b: Float32Array) => {
  expect(a.length).toBe(b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  const first = x.findIndex((bits, i) => bits !== y[i]);
  expect(first === -1 ? 'identical' : `differs at ${first}: ${a[first]} vs ${b[first]}`).toBe('identical');
};

describe('Rng reproduces the pure-rand streams of earlier versions bit for bit', () => {
  beforeAll(async () => {
    await setBackend('cpu');
  });

  it('the generator: outputs, states and jumps over long streams', () => {
    for (const seed of [0, 1, -1, 42, 0x7fffffff, -0x80000000, 123456789]) {
      const reference = xoroshiro128plus(seed);
      const mine = Xoroshiro128Plus.fromSeed(seed);
      for (let i = 0; i < 200_000; i++) {
        if (mine.next() !== reference.next()) throw new Error(`seed ${seed}: output ${i} differs`);
      }
      expect(mine.getState()).toEqual([...reference.getState()]);
      mine.jump();
      reference.jump();
      expect(mine.getState()).toEqual([...reference.getState()]);
      for (let i = 0; i < 1000; i++) expect(mine.next()).toBe(reference.next());
    }
  });

  it('Rng: uniforms, normals, getState, fromState and fork', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 0, max: 300 }), (seed, skip) => {
        const mine = new Rng(seed);
        const reference = new ReferenceRng(seed);
        for (let i = 0; i < skip; i++) expect(mine.uniform()).toBe(reference.uniform());
        expect(mine.getState().state).toEqual(reference.state());
        const restored = Rng.fromState(JSON.parse(JSON.stringify(mine.getState())));
        const child = restored.fork();
        const referenceChild = reference.fork();
        expect(child.getState().state).toEqual(referenceChild.state());
        expect(restored.getState().state).toEqual(reference.state());
        for (let i = 0; i < 20; i++) {
          expect(child.normal()).toBe(referenceChild.normal());
          expect(restored.uint32()).toBe(reference.uint32());
        }
      }),
      { seed: 7, numRuns: 100 },
    );
  });

  it('truncatedNormalValues: the same float32 values and final state for many seeds, sizes, spreads, means and bounds', () => {
    // [std, mean, a, b]: timm's default; wide spreads that reject often; an offset mean near a bound; tiny and huge spreads.
    const settings: [number, number, number, number][] = [
      [0.02, 0, -2, 2],
      [1, 0, -2, 2],
      [1.5, 0.3, -0.5, 2],
      [0.05, 1.9, -2, 2],
      [0.5, 0, -0.5, 0.5],
      [1e-30, 0, -2, 2],
      [3, -1, -1, 7],
      [1e3, 0, -1e4, 1e4],
    ];
    let values = 0;
    for (let seed = -5; seed < 30; seed++) {
      for (const [std, mean, a, b] of settings) {
        const size = 1 + ((seed + 5) * 7919 + std * 1000) % 20_000;
        const mine = new Rng(seed);
        const reference = new ReferenceRng(seed);
        sameBits(truncatedNormalValues(mine, size, std, mean, a, b), reference.truncatedNormal(size, std, mean, a, b));
        expect(mine.getState().state).toEqual(reference.state());
        values += size;
      }
    }
    // One long timm-default stream, where about one value in a few hundred takes the libm path.
    const mine = new Rng(2026);
    const reference = new ReferenceRng(2026);
    sameBits(truncatedNormalValues(mine, 2_000_000, 0.02), reference.truncatedNormal(2_000_000, 0.02));
    expect(mine.getState().state).toEqual(reference.state());
    expect(values).toBeGreaterThan(2_000_000);
  });

  it('kaimingNormalFanOut: the same values as std · normal() drawn one by one', () => {
    const std = Math.sqrt(2 / 576);
    const reference = new ReferenceRng(3);
    const expected = Float32Array.from({ length: 64 * 3 * 3 * 3 }, () => std * reference.normal());
    const tensor = kaimingNormalFanOut(576)([64, 3, 3, 3], new Rng(3));
    sameBits(tensor.dataSync() as Float32Array, expected);
    tensor.dispose();
  });

  it('the approximations stay inside the error bounds the exactness argument assumes', () => {
    // Random bits, plus the extremes: u = 2^-53, u just below 1, and v at the edges of the 256 table slices.
    const rng = new Rng(11);
    const pairs: [number, number][] = [[0, 1], [0x7ffffff, 0x3ffffff], [1, 0], [0x4000000, 0]];
    for (let j = 0; j < 256; j++) pairs.push([j << 19, 0], [(j << 19) | 0x7ffff, 0x3ffffff]);
    for (let i = 0; i < 300_000; i++) pairs.push([rng.uint32() >>> 5, rng.uint32() >>> 6]);
    // Small u, where the exponent is far from 0 and the high word is 0 or 1.
    for (let i = 0; i < 1000; i++) pairs.push([rng.uint32() >>> (5 + (i % 27)), rng.uint32() >>> 6]);
    let worstLog = 0;
    let worstCos = 0;
    for (const [hi, lo] of pairs) {
      const x = (hi * 67108864 + lo) / 9007199254740992;
      if (x > 0) worstLog = Math.max(worstLog, Math.abs(approximateLog(hi, lo) / Math.log(x) - 1));
      worstCos = Math.max(worstCos, Math.abs(approximateCosTurn(hi, lo) - Math.cos(2 * Math.PI * x)));
    }
    // normal-values.ts proves 7.5e-12 (relative) and 2.5e-12 (absolute); its δ assumes six times less than it allows.
    expect(worstLog).toBeLessThan(7.5e-12);
    expect(worstCos).toBeLessThan(2.5e-12);
  });

  it('refuses a saved state that is not four 32-bit integers', () => {
    for (const state of [[1, 2, 3], [1, 2, 3, 1.5], [1, 2, 3, 2 ** 32], [1, 2, 3, '4']]) {
      expect(() => Rng.fromState({ algorithm: 'xoroshiro128plus', state } as never)).toThrow(/rng state = .*four 32-bit integers/);
    }
  });
});
