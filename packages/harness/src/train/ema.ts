import { tf, type VisionModel } from '@tessera/core';

/**
 * Exponential moving average of the weights (Polyak averaging; timm's ModelEmaV2):
 * e ← d·e + (1 − d)·θ after every optimizer step, buffers copied.
 */
export class WeightEma {
  readonly shadow: Record<string, tf.Variable> = {};

  constructor(
    private readonly model: VisionModel,
    readonly decay: number,
  ) {
    for (const [name, t] of Object.entries(model.stateDict())) {
      const copy = t.clone();
      this.shadow[name] = tf.variable(copy, false);
      copy.dispose();
    }
  }

  update(): void {
    const live = this.model.stateDict();
    tf.tidy(() => {
      for (const [name, e] of Object.entries(this.shadow)) {
        const t = live[name]!;
        e.assign(tf.add(tf.mul(e, this.decay), tf.mul(t, 1 - this.decay)));
      }
    });
  }

  /** Runs `fn` with the averaged weights loaded into the model, then puts the trained weights back. */
  async withWeights<T>(fn: () => Promise<T>): Promise<T> {
    const saved = Object.fromEntries(Object.entries(this.model.stateDict()).map(([k, t]) => [k, t.clone()]));
    this.model.loadStateDict(this.shadow);
    try {
      return await fn();
    } finally {
      this.model.loadStateDict(saved);
      tf.dispose(Object.values(saved));
    }
  }

  load(tensors: Record<string, tf.Tensor>): void {
    for (const [name, e] of Object.entries(this.shadow)) {
      const t = tensors[name];
      if (!t) throw new Error(`EMA state lacks ${name}`);
      e.assign(t);
    }
  }

  dispose(): void {
    tf.dispose(Object.values(this.shadow));
  }
}
