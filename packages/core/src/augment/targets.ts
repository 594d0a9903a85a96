import { checkInteger, checkNumber, InvalidArgumentError } from '../errors.js';
import { tf } from '../tensor/tf.js';

/**
 * One-hot targets [B, K] from integer class labels, with label smoothing as timm's
 * `mixup_target` builds them: off = ε/K, on = 1 − ε + ε/K, so every row sums to 1.
 */
export function oneHot(labels: readonly number[] | Int32Array | tf.Tensor1D, numClasses: number, smoothing = 0): tf.Tensor2D {
  checkInteger('numClasses', numClasses, 1);
  checkNumber('smoothing', smoothing, 0, 1);
  if (labels instanceof tf.Tensor) {
    if (labels.rank !== 1 || labels.dtype !== 'int32') {
      throw new InvalidArgumentError('labels', `a ${labels.dtype} tensor of shape [${labels.shape.join(', ')}]`, 'a 1-D int32 tensor or an array of class indices');
    }
  } else {
    labels.forEach((label, i) => {
      if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
        throw new InvalidArgumentError(`labels[${i}]`, label, `a class index in [0, ${numClasses - 1}]`);
      }
    });
  }
  const off = smoothing / numClasses;
  const on = 1 - smoothing + off;
  if (!(labels instanceof tf.Tensor)) {
    const values = new Float32Array(labels.length * numClasses).fill(off);
    labels.forEach((label, i) => (values[i * numClasses + label] = on));
    return tf.tensor2d(values, [labels.length, numClasses]);
  }
  // tfjs-wasm's OneHot kernel writes int32 whatever dtype is asked for: select the values from an int mask instead.
  const shape: [number, number] = [labels.shape[0], numClasses];
  return tf.tidy(() => tf.where(tf.cast(tf.oneHot(labels, numClasses), 'bool'), tf.fill(shape, on), tf.fill(shape, off)) as tf.Tensor2D);
}

/** Throws unless `targets` is a float [B, K] tensor. */
export function checkTargets(targets: tf.Tensor, batchSize?: number): void {
  if (targets.rank !== 2 || targets.dtype !== 'float32' || (batchSize !== undefined && targets.shape[0] !== batchSize)) {
    const expected = batchSize === undefined ? 'a float32 tensor [B, classes]' : `a float32 tensor [${batchSize}, classes] (one row per image)`;
    throw new InvalidArgumentError('targets', `a ${targets.dtype} tensor of shape [${targets.shape.join(', ')}]`, `${expected}; make one-hot targets with oneHot(labels, numClasses)`);
  }
}

/**
 * Label smoothing of float targets: (1 − ε)·y + ε/K. For one-hot rows this is
 * exactly timm's on/off values; soft rows keep summing to 1.
 */
export function smoothTargets(targets: tf.Tensor2D, smoothing: number): tf.Tensor2D {
  checkNumber('smoothing', smoothing, 0, 1);
  checkTargets(targets);
  if (smoothing === 0) return targets.clone();
  const k = targets.shape[1];
  return tf.tidy(() => tf.add(tf.mul(targets, 1 - smoothing), smoothing / k) as tf.Tensor2D);
}

/**
 * Cross-entropy against soft targets (timm's SoftTargetCrossEntropy):
 * mean over the batch of Σ_k −target_k · log_softmax(logits)_k.
 */
export function softTargetCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  if (logits.rank !== 2) throw new InvalidArgumentError('logits', `a tensor of shape [${logits.shape.join(', ')}]`, 'logits [B, classes]');
  if (targets.rank !== 2 || targets.shape[0] !== logits.shape[0] || targets.shape[1] !== logits.shape[1]) {
    throw new InvalidArgumentError('targets', `a tensor of shape [${targets.shape.join(', ')}]`, `the logits' shape [${logits.shape.join(', ')}]`);
  }
  return tf.tidy(() => tf.mean(tf.sum(tf.mul(tf.neg(targets), tf.logSoftmax(logits)), 1)) as tf.Scalar);
}
