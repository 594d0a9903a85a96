import { tf } from '../tensor/tf.js';

export interface Conv2dArgs {
  readonly stride: [number, number];
  /** Explicit zero padding [[top, bottom], [left, right]], as PyTorch's symmetric `padding`. */
  readonly padding: [[number, number], [number, number]];
  readonly dilation: [number, number];
  readonly groups: number;
}

/**
 * 2-D convolution of an NHWC batch with an HWIO kernel [kh, kw, in/groups, out],
 * covering PyTorch's nn.Conv2d cases: dense (groups 1), depthwise (groups = in =
 * out/multiplier) and grouped (split into per-group dense convolutions).
 */
export function conv2d(x: tf.Tensor4D, kernel: tf.Tensor4D, args: Conv2dArgs): tf.Tensor4D {
  return tf.tidy(() => {
    const [[pt, pb], [pl, pr]] = args.padding;
    const padded = pt || pb || pl || pr ? tf.pad(x, [[0, 0], [pt, pb], [pl, pr], [0, 0]]) : x;
    const inChannels = x.shape[3];
    const [kh, kw, inPerGroup, outChannels] = kernel.shape;
    if (args.groups === 1) {
      return tf.conv2d(padded, kernel, args.stride, 'valid', 'NHWC', args.dilation);
    }
    if (args.groups === inChannels && inPerGroup === 1) {
      // Depthwise: PyTorch's [out, 1, kh, kw] with out = in·m maps to tfjs's [kh, kw, in, m].
      const multiplier = outChannels / inChannels;
      const dw = tf.reshape(kernel, [kh, kw, inChannels, multiplier]) as tf.Tensor4D;
      return tf.depthwiseConv2d(padded, dw, args.stride, 'valid', 'NHWC', args.dilation);
    }
    const xs = tf.split(padded, args.groups, 3);
    const ks = tf.split(kernel, args.groups, 3);
    const ys = xs.map((xi, g) => tf.conv2d(xi as tf.Tensor4D, ks[g] as tf.Tensor4D, args.stride, 'valid', 'NHWC', args.dilation));
    return tf.concat(ys, 3) as tf.Tensor4D;
  });
}
