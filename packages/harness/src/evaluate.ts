import { Rng, tf, type ForwardOptions, type StageOverrides, type VisionModel } from '@tessera/core';
import { BatchLoader, type ImageDataset } from './data/index.js';
import { evaluateOnReplicas, type EvalReplicas } from './parallel/parallel-eval.js';

/** Forward options with per-stage overrides for this call (none: the spec's options). */
export function withOverrides(options: ForwardOptions, overrides: StageOverrides | undefined): ForwardOptions {
  return overrides ? { ...options, overrides } : options;
}

export interface EvalMetrics {
  readonly top1: number;
  readonly top5: number;
  readonly loss: number;
  readonly images: number;
  readonly imagesPerSecond: number;
}

/** Loader options that turn a dataset into what `model` expects: its input size and its normalisation. */
export function inputOptions(model: VisionModel, dataset: ImageDataset) {
  const [h, w] = model.config.inputSize;
  return {
    targetSize: [h, w] as [number, number],
    channels: dataset.channels,
    mean: model.config.mean.slice(0, dataset.channels),
    std: model.config.std.slice(0, dataset.channels),
  };
}

/**
 * One batch's top-1 hits, top-k hits and summed cross-entropy, as scalars the caller
 * disposes; what each replica computes for its shard (parallel/worker.ts).
 */
export function batchHits(model: VisionModel, images: tf.Tensor4D, labels: Int32Array, k: number, overrides: StageOverrides | undefined): [tf.Scalar, tf.Scalar, tf.Scalar] {
  return tf.tidy(() => {
    const logits = model.forward(images, withOverrides({ training: false }, overrides)).logits;
    const target = tf.tensor1d(labels, 'int32');
    const nll = tf.neg(tf.sum(tf.mul(tf.oneHot(target, model.config.numClasses), tf.logSoftmax(logits)), -1));
    const top = tf.topk(logits, k).indices;
    const inTop = tf.cast(tf.equal(top, tf.expandDims(target, 1)), 'float32');
    const first = tf.slice(inTop, [0, 0], [-1, 1]);
    return [tf.sum(first), tf.sum(inTop), tf.sum(nll)] as [tf.Scalar, tf.Scalar, tf.Scalar];
  });
}

/**
 * Top-1 and top-5 accuracy (k capped at the class count) and mean cross-entropy over the whole split, in eval mode.
 * `overrides` change block options for every call (e.g. the patch size of a FlexiViT stem).
 * With `replicas` (parallel/parallel-eval.ts), each batch is split across worker
 * threads; the hit counts equal this thread's and the loss agrees to float32 rounding.
 */
export async function evaluate(model: VisionModel, dataset: ImageDataset, batchSize: number, overrides?: StageOverrides, replicas?: EvalReplicas): Promise<EvalMetrics> {
  const loader = new BatchLoader(dataset, { batchSize, shuffle: false, rng: new Rng(0), dropLast: false, ...inputOptions(model, dataset) });
  const k = Math.min(5, model.config.numClasses);
  let correct1 = 0;
  let correct5 = 0;
  let lossSum = 0;
  let seen = 0;
  const start = performance.now();
  if (replicas && replicas.count > 1) {
    const totals = await evaluateOnReplicas(replicas, model, loader, k, overrides);
    correct1 = totals.hits1;
    correct5 = totals.hitsK;
    lossSum = totals.lossSum;
    seen = totals.seen;
  } else {
    for (let batch = loader.next(); batch; batch = loader.next()) {
      const { images, labels } = batch;
      try {
        const [hits1, hitsK, loss] = batchHits(model, images, labels, k, overrides);
        const values = await Promise.all([hits1.data(), hitsK.data(), loss.data()]);
        tf.dispose([hits1, hitsK, loss]);
        correct1 += values[0][0]!;
        correct5 += values[1][0]!;
        lossSum += values[2][0]!;
        seen += labels.length;
      } finally {
        images.dispose();
      }
    }
  }
  const seconds = (performance.now() - start) / 1000;
  return {
    top1: seen ? correct1 / seen : 0,
    top5: seen ? correct5 / seen : 0,
    loss: seen ? lossSum / seen : Number.NaN,
    images: seen,
    imagesPerSecond: seconds > 0 ? seen / seconds : 0,
  };
}
