import type { tf } from '../tensor/tf.js';
import type { Module } from './module.js';

/**
 * Building a model without drawing its initial values, for when they would be thrown
 * away: loading a checkpoint or pretrained weights, counting parameters or MACs.
 * Drawing is most of a build's cost (every value of a full-width model goes through
 * the Rng in JavaScript: ~10 s for 86 M parameters on one core), so a run that
 * builds a model only to overwrite it pays it for nothing. timm and PyTorch users
 * know this as `skip_init` / building on the meta device.
 */
let depth = 0;

/** Whether a build is inside `withoutInitialValues`: core's random initialisers then return zeros and draw nothing. */
export function initialValuesSkipped(): boolean {
  return depth > 0;
}

/**
 * Runs `build` with core's random initialisers (truncNormal, uniformFanIn,
 * kaimingNormalFanOut and everything built from them) returning zeros without
 * drawing. The modules it builds have their true shapes, parameter counts and
 * state-dict keys, and zeros for those values: right for counting parameters and
 * MACs, wrong for computing anything else. Use `buildWithWeights` to build a model
 * and load its values in one step.
 *
 * The Rng passed to the blocks advances only through the draws that remain (a
 * plugin's own, for instance), so nothing may keep it for later use; no built-in
 * block does (dropout draws from the forward call's Rng).
 */
export function withoutInitialValues<T>(build: () => T): T {
  depth++;
  try {
    return build();
  } finally {
    depth--;
  }
}

/**
 * Builds a model without drawing its initial values and loads every parameter and
 * buffer from `weights` (strictly: a missing, unexpected or misshapen key throws a
 * StateDictError and the half-built model is freed). The result is the model
 * `build()` followed by `loadStateDict(weights)` gives, minus the drawing, and it can
 * never be used with the zeros in place. The caller keeps ownership of `weights`.
 */
export function buildWithWeights<M extends Module>(build: () => M, weights: Record<string, tf.Tensor>): M {
  const model = withoutInitialValues(build);
  try {
    model.loadStateDict(weights);
    return model;
  } catch (error) {
    model.dispose();
    throw error;
  }
}
