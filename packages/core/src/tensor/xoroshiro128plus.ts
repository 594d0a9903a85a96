/**
 * xoroshiro128+ (Blackman & Vigna, "Scrambled linear pseudorandom number
 * generators", 2018: the 55/14/36 parameters), 32 bits of output per step, with the
 * state layout, seeding and jump of pure-rand 8's `xoroshiro128plus`. Tessera's Rng
 * used pure-rand's generator until initialisation became the cost of building a
 * model; this one keeps the state in four plain int32 fields so that a bulk sampler
 * (normal-values.ts) can run the recurrence on locals. Every output, state and jump
 * is the same as pure-rand's, so seeds and saved states from earlier versions give the
 * same streams (test/random.test.ts checks it against pure-rand).
 *
 * The 64-bit words are held as two int32 halves: s0 = (s01:s00), s1 = (s11:s10),
 * high:low. One step: out = low32(s0 + s1); a = s1 ^ s0; s0 = rotl(s0, 24) ^ a ^ (a << 16);
 * s1 = rotl(a, 37).
 */
export class Xoroshiro128Plus {
  constructor(
    public s01: number,
    public s00: number,
    public s11: number,
    public s10: number,
  ) {}

  /** pure-rand's seeding of a 32-bit seed. */
  static fromSeed(seed: number): Xoroshiro128Plus {
    return new Xoroshiro128Plus(-1, ~seed, seed | 0, 0);
  }

  /** The next 32 bits as a signed int32 (what pure-rand's `next()` returns). */
  next(): number {
    const out = (this.s00 + this.s10) | 0;
    const a0 = this.s10 ^ this.s00;
    const a1 = this.s11 ^ this.s01;
    const s00 = this.s00;
    const s01 = this.s01;
    this.s00 = (s00 << 24) ^ (s01 >>> 8) ^ a0 ^ (a0 << 16);
    this.s01 = (s01 << 24) ^ (s00 >>> 8) ^ a1 ^ ((a1 << 16) | (a0 >>> 16));
    this.s10 = (a1 << 5) ^ (a0 >>> 27);
    this.s11 = (a0 << 5) ^ (a1 >>> 27);
    return out;
  }

  /** Advances 2^64 steps (the reference jump polynomial), for non-overlapping streams. */
  jump(): void {
    let n01 = 0;
    let n00 = 0;
    let n11 = 0;
    let n10 = 0;
    for (const word of JUMP) {
      for (let mask = 1; mask; mask <<= 1) {
        if (word & mask) {
          n01 ^= this.s01;
          n00 ^= this.s00;
          n11 ^= this.s11;
          n10 ^= this.s10;
        }
        this.next();
      }
    }
    this.s01 = n01;
    this.s00 = n00;
    this.s11 = n11;
    this.s10 = n10;
  }

  /** [s01, s00, s11, s10], pure-rand's `getState()` order. */
  getState(): [number, number, number, number] {
    return [this.s01, this.s00, this.s11, this.s10];
  }
}

/** The reference jump polynomial 0xdf900294d8f554a5, 0x170865df4b3201fc as four 32-bit words, low word first. */
const JUMP = [0xd8f554a5 | 0, 0xdf900294 | 0, 0x4b3201fc, 0x170865df] as const;
