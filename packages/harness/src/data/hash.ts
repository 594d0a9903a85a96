/** murmur3's 32-bit finaliser: spreads nearby integers into unrelated 32-bit values. */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** An unsigned 32-bit hash of two integers, e.g. (seed, example index) -> per-example seed. */
export function hash2(a: number, b: number): number {
  return mix32((mix32(a) ^ Math.imul(b + 0x9e3779b9, 0x27d4eb2d)) >>> 0);
}
