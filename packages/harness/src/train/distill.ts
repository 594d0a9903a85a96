import { InvalidArgumentError, tf } from '@tessera/core';

/**
 * T²·KL(softmax(t/T) ‖ softmax(s/T)) per example, averaged over the batch: the
 * distillation loss of FlexiViT (big_vision evaluators/proj/distill/distance.py
 * 'kl', T = 1 in every published config). Both sides go through logSoftmax, so
 * large logits stay finite; it is 0 exactly when s − t is constant per row.
 */
export function klDivergence(teacherLogits: tf.Tensor2D, studentLogits: tf.Tensor2D, temperature = 1): tf.Scalar {
  if (teacherLogits.rank !== 2 || studentLogits.rank !== 2 || teacherLogits.shape.some((d, i) => d !== studentLogits.shape[i])) {
    throw new InvalidArgumentError('teacherLogits', `a tensor of shape [${teacherLogits.shape.join(', ')}]`, `the student logits' shape [${studentLogits.shape.join(', ')}]`);
  }
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new InvalidArgumentError('temperature', temperature, 'a finite number > 0');
  return tf.tidy(() => {
    const logP = tf.logSoftmax(tf.div(teacherLogits, temperature));
    const logQ = tf.logSoftmax(tf.div(studentLogits, temperature));
    return tf.mul(tf.mean(tf.sum(tf.mul(tf.exp(logP), tf.sub(logP, logQ)), 1)), temperature * temperature) as tf.Scalar;
  });
}

/**
 * KL(p ‖ softmax(s)) for target distributions p (rows summing to 1), averaged
 * over the batch, with 0·log 0 = 0. Its gradient in s is that of the soft-target
 * cross-entropy; the value differs by the entropy of p, so it reads as a
 * distance: 0 when the student reproduces the teacher.
 */
export function klToTargets(targets: tf.Tensor2D, studentLogits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const logQ = tf.logSoftmax(studentLogits);
    const positive = tf.greater(targets, 0);
    const logP = tf.where(positive, tf.log(tf.where(positive, targets, tf.onesLike(targets))), tf.zerosLike(targets));
    return tf.mean(tf.sum(tf.mul(targets, tf.sub(logP, logQ)), 1)) as tf.Scalar;
  });
}
