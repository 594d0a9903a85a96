import { applyAugmentations, attachAugmentations, createAugmentation, createModel, oneHot, Rng, setBackend, softTargetCrossEntropy, tf, use } from '@tessera/core';
import { transmixPlugin } from '@tessera/plugin-transmix';

await setBackend('wasm');
use(transmixPlugin);

const model = createModel('deit_tiny_patch16_224', { imgSize: 32, patchSize: 8, numClasses: 4 });
// Official options: Mixup 0.8 / CutMix 1.0, switch prob 0.5, smoothing 0.1, λ = (λ_area + λ_attn) / 2.
// Attaching checks that the model declares the class-token attention TransMix reads.
const transmix = attachAugmentations(model, createAugmentation('transmix'));
const optimizer = tf.train.adam(1e-3);
const rng = new Rng(0);

const images = tf.randomUniform([8, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
const targets = oneHot([0, 1, 2, 3, 0, 1, 2, 3], 4);

for (let step = 0; step < 3; step++) {
  // Samples Mixup-or-CutMix for this batch and mixes the images and (area) labels.
  const batch = applyAugmentations(transmix, { images, targets }, rng);
  const loss = optimizer.minimize(() => {
    const out = model.forward(batch.batch.images, { training: true, outputs: ['clsAttention'] });
    // CutMix batches: λ re-weighted by the class token's attention inside the box.
    return softTargetCrossEntropy(out.logits, batch.targets(out));
  }, true)!;
  console.log(`step ${step}: loss ${loss.dataSync()[0]!.toFixed(4)}`);
  loss.dispose();
  batch.dispose();
}
