/**
 * Pairwise (all-pairs) coverage: rows of value indices, one value per dimension,
 * such that every pair of values of every two dimensions appears in some row.
 * Greedy in the manner of AETG (Cohen et al., 1997): each row starts from the
 * first pair still uncovered and fills the other dimensions with the value that
 * covers the most uncovered pairs. Deterministic: the same sizes give the same rows.
 */
export function pairwiseRows(sizes: readonly number[]): number[][] {
  if (sizes.some((n) => n < 1)) return [];
  if (sizes.length < 2) return Array.from({ length: sizes[0] ?? 1 }, (_, i) => (sizes.length ? [i] : []));
  const key = (i: number, a: number, j: number, b: number) => `${i}:${a}|${j}:${b}`;
  const uncovered = new Set<string>();
  const pending: Array<[number, number, number, number]> = [];
  for (let i = 0; i < sizes.length; i++) {
    for (let j = i + 1; j < sizes.length; j++) {
      for (let a = 0; a < sizes[i]!; a++) {
        for (let b = 0; b < sizes[j]!; b++) {
          uncovered.add(key(i, a, j, b));
          pending.push([i, a, j, b]);
        }
      }
    }
  }
  const rows: number[][] = [];
  let cursor = 0;
  while (uncovered.size) {
    while (!uncovered.has(key(...pending[cursor]!))) cursor++;
    const [i, a, j, b] = pending[cursor]!;
    const row: Array<number | undefined> = sizes.map(() => undefined);
    row[i] = a;
    row[j] = b;
    for (let d = 0; d < sizes.length; d++) {
      if (row[d] !== undefined) continue;
      let best = 0;
      let bestGain = -1;
      for (let v = 0; v < sizes[d]!; v++) {
        let gain = 0;
        for (let e = 0; e < sizes.length; e++) {
          const w = row[e];
          if (e === d || w === undefined) continue;
          if (uncovered.has(e < d ? key(e, w, d, v) : key(d, v, e, w))) gain++;
        }
        if (gain > bestGain) [best, bestGain] = [v, gain];
      }
      row[d] = best;
    }
    const full = row as number[];
    for (let x = 0; x < full.length; x++) for (let y = x + 1; y < full.length; y++) uncovered.delete(key(x, full[x]!, y, full[y]!));
    rows.push(full);
  }
  return rows;
}

/** Every row of the full product, first dimension slowest. */
export function productRows(sizes: readonly number[]): number[][] {
  let rows: number[][] = [[]];
  for (const n of sizes) rows = rows.flatMap((r) => Array.from({ length: n }, (_, v) => [...r, v]));
  return rows;
}

/** The size of the full product. */
export function productSize(sizes: readonly number[]): number {
  return sizes.reduce((a, n) => a * n, 1);
}
