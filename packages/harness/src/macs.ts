import { tf, type VisionModel } from '@tessera/core';

export interface MacCount {
  /** Multiply-accumulates of one forward pass at batch 1. */
  readonly macs: number;
  /** The same, per kernel name. */
  readonly byKernel: Record<string, number>;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * MACs of one kernel call from its shapes alone, so any plugin's model is counted
 * without per-model code. As fvcore and the perf anchors do, only matmuls and
 * convolutions count; elementwise ops, softmax and norms are left out.
 */
export function kernelMacs(kernel: string, inputShapes: ReadonlyArray<readonly number[] | undefined>, outputShape: readonly number[]): number {
  const [a, b] = inputShapes;
  if (!a || !b) return 0;
  // Custom kernels registered by core or plugins keep the naming of the ones they replace (core's
  // TesseraBatchMatMul serves attention on wasm), so kernels are matched by the suffix of their name.
  if (/MatMul$/.test(kernel)) {
    // a holds batch·M·K values whatever its transpose flag, and the output is [..., M, N].
    const m = outputShape[outputShape.length - 2] ?? 1;
    const batch = size(a.slice(0, -2));
    const k = size(a) / (batch * m);
    return size(outputShape) * k;
  }
  if (/DepthwiseConv2d(Native)?$/i.test(kernel)) return size(outputShape) * (b[0] ?? 1) * (b[1] ?? 1);
  if (/Conv2D$/.test(kernel)) {
    // HWIO filter: each output value takes kh·kw·in/groups MACs.
    const outChannels = b[3] ?? 1;
    return size(outputShape) * (size(b) / outChannels);
  }
  return 0;
}

/** Traces one batch-1 forward pass with tf.profile and sums the MACs of its matmul and convolution kernels. */
export async function countMacs(model: VisionModel): Promise<MacCount> {
  const [h, w, c] = model.config.inputSize;
  const input = tf.zeros([1, h, w, c]) as tf.Tensor4D;
  try {
    const info = await tf.profile(() => model.predict(input));
    tf.dispose(info.result as tf.Tensor);
    const byKernel: Record<string, number> = {};
    let macs = 0;
    for (const k of info.kernels) {
      const n = kernelMacs(k.name, k.inputShapes as Array<number[] | undefined>, (k.outputShapes[0] ?? []) as number[]);
      if (n > 0) {
        byKernel[k.name] = (byKernel[k.name] ?? 0) + n;
        macs += n;
      }
    }
    return { macs, byKernel };
  } finally {
    input.dispose();
  }
}
