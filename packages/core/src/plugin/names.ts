/** Levenshtein distance, for "did you mean" suggestions. */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/**
 * The closest names to `name`, best first, at most three: names that contain it
 * (`deit_tiny` → `deit_tiny_patch16_224`, shortest first), then names within an edit
 * distance of a third of its length (typos).
 */
export function closestNames(name: string, candidates: Iterable<string>): string[] {
  // Case is ignored: `T2T_ViT_7` and `DeiT_tiny` should find their models.
  const query = name.toLowerCase();
  const all = [...candidates];
  const containing = all.filter((c) => c !== name && c.toLowerCase().includes(query)).sort((x, y) => x.length - y.length || x.localeCompare(y));
  const limit = Math.max(2, Math.ceil(name.length / 3));
  const near = all
    .map((c) => [c, editDistance(query, c.toLowerCase())] as const)
    .filter(([c, d]) => d <= limit && !containing.includes(c))
    .sort((x, y) => x[1] - y[1] || x[0].localeCompare(y[0]))
    .map(([c]) => c);
  return [...containing, ...near].slice(0, 3);
}
