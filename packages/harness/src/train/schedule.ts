/**
 * Learning rate at optimizer step `step` (0-based): linear warmup from
 * warmupLr to the base rate over `warmupSteps`, then half-cosine decay to `minLr`
 * at `totalSteps` (SGDR, Loshchilov & Hutter 2017, without restarts; DeiT's recipe).
 */
export function cosineLr(step: number, o: { lr: number; minLr: number; warmupLr?: number; warmupSteps: number; totalSteps: number }): number {
  const warmupLr = o.warmupLr ?? Math.min(1e-6, o.lr);
  if (step < o.warmupSteps) return warmupLr + ((o.lr - warmupLr) * step) / o.warmupSteps;
  const span = Math.max(1, o.totalSteps - o.warmupSteps);
  const progress = Math.min(1, (step - o.warmupSteps) / span);
  return o.minLr + 0.5 * (o.lr - o.minLr) * (1 + Math.cos(Math.PI * progress));
}
