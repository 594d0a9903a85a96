import { applyAugmentations, createAugmentation, oneHot, Rng, tf, type Augmentation, type ComposedModel, type Registry } from '@tessera/core';
import { fail, pass, skip, type AugmentationRef, type CheckResult } from '../results.js';
import type { FixedBatch } from './model.js';
import { errorMessage, firstNonFinite, values } from './tensors.js';

/** What one pass of an augmentation through a training step produced, or why it could not. */
type Served = { ok: true; problems: string[] } | { ok: false; error: string };

/**
 * One training step's target pipeline: sample and apply, forward with the outputs
 * the augmentation needs, build the targets. Returns what is wrong with the images
 * and targets it produced (empty when they keep the contract), or the error that
 * stopped it. Frees everything it made.
 */
function serve(augmentation: Augmentation, model: ComposedModel, batch: FixedBatch, seed: number): Served {
  const k = model.config.numClasses;
  const [b, h, w, c] = batch.images.shape;
  const targets = oneHot(batch.labels, k);
  let augmented;
  try {
    augmented = applyAugmentations([augmentation], { images: batch.images, targets }, new Rng(seed));
  } catch (error) {
    targets.dispose();
    return { ok: false, error: errorMessage(error) };
  }
  try {
    const images = augmented.batch.images;
    const problems: string[] = [];
    if (images.shape.join() !== [b, h, w, c].join()) problems.push(`images of shape [${images.shape.join(', ')}] from a batch of [${b}, ${h}, ${w}, ${c}]`);
    else if (firstNonFinite(values(images)) >= 0) problems.push('non-finite image values');
    const out = model.forward(images, { training: true, rng: new Rng(seed), outputs: augmented.requiresOutputs });
    try {
      const result = augmented.targets(out);
      try {
        if (result.rank !== 2 || result.shape[0] !== b || result.shape[1] !== k) problems.push(`targets of shape [${result.shape.join(', ')}], expected [${b}, ${k}]`);
        else {
          const data = values(result);
          const bad = firstNonFinite(data);
          if (bad >= 0) problems.push(`target ${data[bad]} in row ${Math.floor(bad / k)}`);
          for (let row = 0; row < b && bad < 0; row++) {
            let sum = 0;
            for (let j = 0; j < k; j++) {
              const v = data[row * k + j]!;
              if (v < -1e-6) problems.push(`negative target ${v} in row ${row}`);
              sum += v;
            }
            // float32 sums of a few soft values: 1e-5 is ~100 ulps.
            if (Math.abs(sum - 1) > 1e-5) {
              problems.push(`row ${row} sums to ${sum}`);
              break;
            }
          }
        }
      } finally {
        result.dispose();
      }
    } finally {
      tf.dispose([out.logits, ...(out.clsAttention ? [out.clsAttention.probs] : [])]);
    }
    return { ok: true, problems };
  } catch (error) {
    return { ok: false, error: errorMessage(error) };
  } finally {
    augmented.dispose();
    targets.dispose();
  }
}

/**
 * The augmentation contracts on one model: `checkModel` accepts exactly the models
 * a training step can serve (a refused model is run anyway and must fail; an
 * accepted one must succeed), the targets are finite non-negative rows summing to
 * 1, and a step leaves no tensor behind.
 */
export function checkAugmentation(ref: AugmentationRef, model: ComposedModel, registry: Registry, batch: FixedBatch): CheckResult[] {
  const name = ref.name;
  let augmentation: Augmentation;
  try {
    augmentation = createAugmentation(name, ref.options, registry);
  } catch (error) {
    return [fail('augmentation-model-check', `cannot be created with these options: ${errorMessage(error)}`, ref)];
  }
  let refusal: string | undefined;
  try {
    augmentation.checkModel(model);
  } catch (error) {
    refusal = errorMessage(error) || 'an error without a message';
  }
  const before = tf.memory().numTensors;
  const served = serve(augmentation, model, batch, batch.seed);
  if (refusal !== undefined) {
    if (served.ok && !served.problems.length) return [fail('augmentation-model-check', `checkModel refused ${model.config.name} ("${refusal}"), yet a training step with it works and gives valid targets`, ref)];
    // A refused model may leave whatever the failed attempt made: that attempt is the check's, not the plugin's contract.
    return [pass('augmentation-model-check', `refused: ${refusal}`, ref), skip('augmentation-targets', 'refused model', ref), skip('augmentation-leaks', 'refused model', ref)];
  }
  if (!served.ok) return [fail('augmentation-model-check', `checkModel accepted the model, then a training step failed: ${served.error}`, ref)];
  const results: CheckResult[] = [pass('augmentation-model-check', 'accepted', ref)];
  results.push(served.problems.length ? fail('augmentation-targets', served.problems.join('; '), ref) : pass('augmentation-targets', '', ref));
  const first = tf.memory().numTensors - before;
  const again = tf.memory().numTensors;
  serve(augmentation, model, batch, batch.seed + 1);
  const second = tf.memory().numTensors - again;
  const leaked = Math.max(first, second);
  results.push(leaked !== 0 ? fail('augmentation-leaks', `a training step with it left ${leaked} tensor(s) behind`, ref) : pass('augmentation-leaks', '', ref));
  return results;
}
