import { checkInteger, InvalidArgumentError } from '../errors.js';
import { tf } from '../tensor/tf.js';
import { customGrad } from './gradient.js';

export interface Conv2dArgs {
  readonly stride: [number, number];
  /** Explicit zero padding [[top, bottom], [left, right]], as PyTorch's symmetric `padding`. */
  readonly padding: [[number, number], [number, number]];
  readonly dilation: [number, number];
  readonly groups: number;
}

/*
 * Why the gradients are written by hand: tfjs-wasm 4.22 registers no
 * Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter or
 * DepthwiseConv2dNativeBackpropInput kernel, so autodiff of tf.conv2d /
 * tf.depthwiseConv2d fails there (shared/docs/perf-anchors.md, "Kernel
 * coverage"), and tfjs cannot differentiate dilated convolutions on any
 * backend. The backward passes below use only forward kernels that every
 * backend has and that XNNPACK runs on wasm:
 *  - filter gradients are themselves convolutions: dW[i, j] correlates the
 *    input with dy, so with batch and channels swapped (input [C, H, W, B],
 *    "kernel" dy as [Ho, Wo, B, O]) one forward conv, whose stride is the
 *    layer's dilation and whose dilation is the layer's stride, yields
 *    [C, kh, kw, O]. Depthwise does the same per (image, channel) with one
 *    depthwise conv. No im2col matrix is ever built (measured on wasm at
 *    16×16×64, batch 32: 44 ms for a 5×5 depthwise dW against 254 ms for
 *    per-tap products, and 351 ms for a GatherV2-based im2col alone);
 *  - input gradients at stride 1 are forward convolutions of the padded output
 *    gradient with the flipped kernel; at larger strides they are the column
 *    gradients dy·Wᵀ (a plain 2-D matMul) scattered back with one ScatterNd,
 *    which sums overlapping taps (faster on wasm than Conv2DBackpropInput or
 *    zero-insertion followed by a stride-1 conv).
 * Stride and dilation both > 1 (which tfjs's kernels reject) falls back to
 * a gathered im2col: correct, slower, and rare.
 */

interface Geometry {
  readonly batch: number;
  readonly inH: number;
  readonly inW: number;
  readonly outH: number;
  readonly outW: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly dh: number;
  readonly dw: number;
}

function geometry(x: tf.Tensor4D, kh: number, kw: number, stride: [number, number], dilation: [number, number]): Geometry {
  const [batch, inH, inW] = x.shape;
  const [sh, sw] = stride;
  const [dh, dw] = dilation;
  const outH = Math.floor((inH - dh * (kh - 1) - 1) / sh) + 1;
  const outW = Math.floor((inW - dw * (kw - 1) - 1) / sw) + 1;
  return { batch, inH, inW, outH, outW, kh, kw, sh, sw, dh, dw };
}

const patchIndexCache = new Map<string, Int32Array>();

/**
 * Row of the flattened input [B·H·W, C] that each (b, oh, ow, i, j) patch entry
 * reads, in that order, so the gathered rows reshape to im2col's
 * [B·Ho·Wo, kh·kw·C] with the kernel's HWI order along the columns.
 */
function patchRows(g: Geometry): Int32Array {
  const key = [g.batch, g.inH, g.inW, g.outH, g.outW, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw].join(',');
  const cached = patchIndexCache.get(key);
  if (cached) return cached;
  const rows = new Int32Array(g.batch * g.outH * g.outW * g.kh * g.kw);
  let n = 0;
  for (let b = 0; b < g.batch; b++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        for (let i = 0; i < g.kh; i++) {
          const row = b * g.inH + oh * g.sh + i * g.dh;
          for (let j = 0; j < g.kw; j++) rows[n++] = row * g.inW + ow * g.sw + j * g.dw;
        }
      }
    }
  }
  // Shapes repeat every step; a small cache keeps index building off the step's path.
  if (patchIndexCache.size > 64) patchIndexCache.clear();
  patchIndexCache.set(key, rows);
  return rows;
}

/** [B, H, W, C] → [B·Ho·Wo, kh·kw, C]. */
function im2col(x: tf.Tensor4D, g: Geometry): tf.Tensor3D {
  const c = x.shape[3];
  const rows = tf.tensor1d(patchRows(g), 'int32');
  const flat = tf.reshape(x, [g.batch * g.inH * g.inW, c]);
  return tf.reshape(tf.gather(flat, rows), [g.batch * g.outH * g.outW, g.kh * g.kw, c]);
}

/** Inverse of im2col's reading: sums each column entry back into the input position it came from. */
function col2im(cols: tf.Tensor, g: Geometry, c: number): tf.Tensor4D {
  const rowsData = patchRows(g);
  const rows = tf.tensor2d(rowsData, [rowsData.length, 1], 'int32');
  const summed = tf.scatterND(rows, tf.reshape(cols, [rowsData.length, c]), [g.batch * g.inH * g.inW, c]);
  return tf.reshape(summed, [g.batch, g.inH, g.inW, c]);
}

/** Both >1 is allowed by PyTorch but rejected by tfjs's conv kernels. */
function stridedAndDilated(stride: [number, number], dilation: [number, number]): boolean {
  return (stride[0] > 1 || stride[1] > 1) && (dilation[0] > 1 || dilation[1] > 1);
}

function denseForward(x: tf.Tensor4D, w: tf.Tensor4D, stride: [number, number], dilation: [number, number]): tf.Tensor4D {
  const [kh, kw, cin, cout] = w.shape;
  if (!stridedAndDilated(stride, dilation)) return tf.conv2d(x, w, stride, 'valid', 'NHWC', dilation);
  const g = geometry(x, kh, kw, stride, dilation);
  const cols = tf.reshape(im2col(x, g), [g.batch * g.outH * g.outW, kh * kw * cin]) as tf.Tensor2D;
  return tf.reshape(tf.matMul(cols, tf.reshape(w, [kh * kw * cin, cout]) as tf.Tensor2D), [g.batch, g.outH, g.outW, cout]);
}

/**
 * The filter-gradient convolution covers every input row, so it reports taps
 * past kh (kw) when the layer's last window stopped short of the input's end.
 */
function cropTaps(full: tf.Tensor4D, kh: number, kw: number): tf.Tensor4D {
  const [n, h, w, ch] = full.shape;
  return h === kh && w === kw ? full : tf.slice(full, [0, 0, 0, 0], [n, kh, kw, ch]);
}

/** dx of a valid, stride-1 convolution: full correlation of dy with the spatially flipped, IO-swapped kernel. */
function flippedConvInputGrad(dy: tf.Tensor4D, w: tf.Tensor4D, dilation: [number, number]): tf.Tensor4D {
  const [kh, kw] = w.shape;
  const ph = (kh - 1) * dilation[0];
  const pw = (kw - 1) * dilation[1];
  const dyPadded = tf.pad(dy, [[0, 0], [ph, ph], [pw, pw], [0, 0]]);
  const flipped = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
  return tf.conv2d(dyPadded, flipped, 1, 'valid', 'NHWC', dilation);
}

function denseConv(stride: [number, number], dilation: [number, number]) {
  return customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, w, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([x, w]);
    return {
      value: denseForward(x, w, stride, dilation),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        const [kh, kw, cin, cout] = ws.shape;
        const g = geometry(xs, kh, kw, stride, dilation);
        const m = g.batch * g.outH * g.outW;
        const dy2 = tf.reshape(dy, [m, cout]) as tf.Tensor2D;
        let dw: tf.Tensor;
        if (kh === 1 && kw === 1 && stride[0] === 1 && stride[1] === 1) {
          // A pointwise conv is a linear layer over pixels: both gradients are plain 2-D matmuls.
          const x2 = tf.reshape(xs, [m, cin]) as tf.Tensor2D;
          const w2 = tf.reshape(ws, [cin, cout]) as tf.Tensor2D;
          return [tf.reshape(tf.matMul(dy2, tf.transpose(w2)), xs.shape), tf.reshape(tf.matMul(tf.transpose(x2), dy2), ws.shape)];
        }
        if (stridedAndDilated(stride, dilation)) {
          const cols = tf.reshape(im2col(xs, g), [m, kh * kw * cin]) as tf.Tensor2D;
          dw = tf.reshape(tf.matMul(tf.transpose(cols), dy2), ws.shape);
        } else {
          const channelsAsBatch = tf.transpose(xs, [3, 1, 2, 0]) as tf.Tensor4D;
          const dyAsKernel = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
          const full = tf.conv2d(channelsAsBatch, dyAsKernel, dilation, 'valid', 'NHWC', stride);
          dw = tf.transpose(cropTaps(full, kh, kw), [1, 2, 0, 3]);
        }
        let dx: tf.Tensor4D;
        if (stride[0] === 1 && stride[1] === 1) {
          dx = flippedConvInputGrad(dy as tf.Tensor4D, ws, dilation);
        } else {
          const w2 = tf.reshape(ws, [kh * kw * cin, cout]) as tf.Tensor2D;
          dx = col2im(tf.matMul(dy2, tf.transpose(w2)), g, cin);
        }
        return [dx, dw];
      },
    };
  });
}

function depthwiseForward(x: tf.Tensor4D, w: tf.Tensor4D, stride: [number, number], dilation: [number, number]): tf.Tensor4D {
  if (!stridedAndDilated(stride, dilation)) return tf.depthwiseConv2d(x, w, stride, 'valid', 'NHWC', dilation);
  const [kh, kw, c, mult] = w.shape;
  const g = geometry(x, kh, kw, stride, dilation);
  const m = g.batch * g.outH * g.outW;
  const cols = tf.reshape(im2col(x, g), [m, kh * kw, c, 1]);
  const y = tf.sum(tf.mul(cols, tf.reshape(w, [1, kh * kw, c, mult])), 1);
  return tf.reshape(y, [g.batch, g.outH, g.outW, c * mult]);
}

function depthwiseConv(stride: [number, number], dilation: [number, number]) {
  return customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, w, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([x, w]);
    return {
      value: depthwiseForward(x, w, stride, dilation),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        const [kh, kw, c, mult] = ws.shape;
        const taps = kh * kw;
        const g = geometry(xs, kh, kw, stride, dilation);
        const m = g.batch * g.outH * g.outW;
        const dyRows = tf.reshape(dy, [m, 1, c, mult]);
        let dw: tf.Tensor;
        if (stridedAndDilated(stride, dilation)) {
          const cols = tf.reshape(im2col(xs, g), [m, taps, c, 1]);
          dw = tf.reshape(tf.sum(tf.mul(cols, dyRows), 0), ws.shape);
        } else {
          // Each (image, channel) pair is one depthwise channel whose "kernel" is that image's dy.
          const imagesAsChannels = tf.reshape(tf.transpose(xs, [1, 2, 0, 3]), [1, g.inH, g.inW, g.batch * c]) as tf.Tensor4D;
          const dyAsKernel = tf.reshape(tf.transpose(tf.reshape(dy, [g.batch, g.outH, g.outW, c, mult]), [1, 2, 0, 3, 4]), [g.outH, g.outW, g.batch * c, mult]) as tf.Tensor4D;
          const full = cropTaps(tf.depthwiseConv2d(imagesAsChannels, dyAsKernel, dilation, 'valid', 'NHWC', stride), kh, kw);
          dw = tf.sum(tf.reshape(full, [kh, kw, g.batch, c, mult]), 2);
        }
        let dx: tf.Tensor4D;
        if (stride[0] === 1 && stride[1] === 1) {
          // Each of the c·mult output channels is a single-input depthwise filter; run dy through the
          // flipped filters as c·mult channels, then fold the multiplier back onto its input channel.
          const ph = (kh - 1) * dilation[0];
          const pw = (kw - 1) * dilation[1];
          const dyPadded = tf.pad(dy, [[0, 0], [ph, ph], [pw, pw], [0, 0]]) as tf.Tensor4D;
          const flipped = tf.reshape(tf.reverse(ws, [0, 1]), [kh, kw, c * mult, 1]) as tf.Tensor4D;
          const full = tf.depthwiseConv2d(dyPadded, flipped, 1, 'valid', 'NHWC', dilation);
          dx = mult === 1 ? full : (tf.sum(tf.reshape(full, [g.batch, g.inH, g.inW, c, mult]), 4) as tf.Tensor4D);
        } else {
          const dcols = mult === 1 ? tf.mul(tf.reshape(dy, [m, 1, c]), tf.reshape(ws, [1, taps, c])) : tf.sum(tf.mul(dyRows, tf.reshape(ws, [1, taps, c, mult])), 3);
          dx = col2im(dcols, g, c);
        }
        return [dx, dw];
      },
    };
  });
}

const denseCache = new Map<string, ReturnType<typeof denseConv>>();
const depthwiseCache = new Map<string, ReturnType<typeof depthwiseConv>>();

function cached<F>(cache: Map<string, F>, stride: [number, number], dilation: [number, number], make: (s: [number, number], d: [number, number]) => F): F {
  const key = `${stride.join('x')}/${dilation.join('x')}`;
  let f = cache.get(key);
  if (!f) {
    f = make(stride, dilation);
    cache.set(key, f);
  }
  return f;
}

function checkPair(name: string, v: unknown, min: number): [number, number] {
  if (!Array.isArray(v) || v.length !== 2) throw new InvalidArgumentError(name, v, 'a pair [height, width] of integers');
  return [checkInteger(`${name}[0]`, v[0], min), checkInteger(`${name}[1]`, v[1], min)];
}

function validate(x: tf.Tensor4D, kernel: tf.Tensor4D, args: Conv2dArgs): void {
  if (x.rank !== 4) throw new InvalidArgumentError('x', `tensor of shape [${x.shape.join(', ')}]`, 'an NHWC batch (rank 4)');
  if (kernel.rank !== 4) throw new InvalidArgumentError('kernel', `tensor of shape [${kernel.shape.join(', ')}]`, 'an HWIO kernel [kh, kw, in/groups, out]');
  const stride = checkPair('stride', args.stride, 1);
  const dilation = checkPair('dilation', args.dilation, 1);
  if (!Array.isArray(args.padding) || args.padding.length !== 2) {
    throw new InvalidArgumentError('padding', args.padding, '[[top, bottom], [left, right]] of integers >= 0');
  }
  const [pt, pb] = checkPair('padding[0]', args.padding[0], 0);
  const [pl, pr] = checkPair('padding[1]', args.padding[1], 0);
  const groups = checkInteger('groups', args.groups, 1);
  const [, h, w, cin] = x.shape;
  const [kh, kw, inPerGroup, cout] = kernel.shape;
  if (cin % groups !== 0 || cout % groups !== 0 || inPerGroup * groups !== cin) {
    throw new InvalidArgumentError(
      'kernel',
      `tensor of shape [${kernel.shape.join(', ')}] with groups ${groups}`,
      `[kh, kw, ${cin / groups}, out] with out divisible by ${groups}, for an input with ${cin} channels`,
    );
  }
  const outH = Math.floor((h + pt + pb - dilation[0] * (kh - 1) - 1) / stride[0]) + 1;
  const outW = Math.floor((w + pl + pr - dilation[1] * (kw - 1) - 1) / stride[1]) + 1;
  if (outH < 1 || outW < 1) {
    throw new InvalidArgumentError('x', `tensor of shape [${x.shape.join(', ')}]`, `an image at least as large as the dilated ${kh}x${kw} kernel after padding`);
  }
}

/**
 * 2-D convolution of an NHWC batch with an HWIO kernel [kh, kw, in/groups, out],
 * covering PyTorch's nn.Conv2d cases: dense (groups 1), depthwise (groups = in =
 * out/multiplier) and grouped (split into per-group dense convolutions), with any
 * stride and dilation. Differentiable on every backend, tfjs-wasm included.
 */
export function conv2d(x: tf.Tensor4D, kernel: tf.Tensor4D, args: Conv2dArgs): tf.Tensor4D {
  validate(x, kernel, args);
  const stride: [number, number] = [args.stride[0], args.stride[1]];
  const dilation: [number, number] = [args.dilation[0], args.dilation[1]];
  return tf.tidy(() => {
    const [[pt, pb], [pl, pr]] = args.padding;
    const padded = pt || pb || pl || pr ? tf.pad(x, [[0, 0], [pt, pb], [pl, pr], [0, 0]]) : x;
    const inChannels = x.shape[3];
    const [kh, kw, inPerGroup, outChannels] = kernel.shape;
    const dense = cached(denseCache, stride, dilation, denseConv);
    if (args.groups === 1) return dense(padded, kernel) as tf.Tensor4D;
    if (args.groups === inChannels && inPerGroup === 1) {
      // Depthwise: PyTorch's [out, 1, kh, kw] with out = in·m maps to tfjs's [kh, kw, in, m].
      const multiplier = outChannels / inChannels;
      const dw = tf.reshape(kernel, [kh, kw, inChannels, multiplier]) as tf.Tensor4D;
      return cached(depthwiseCache, stride, dilation, depthwiseConv)(padded, dw) as tf.Tensor4D;
    }
    const xs = tf.split(padded, args.groups, 3);
    const ks = tf.split(kernel, args.groups, 3);
    const ys = xs.map((xi, g) => dense(xi as tf.Tensor4D, ks[g] as tf.Tensor4D));
    return tf.concat(ys, 3) as tf.Tensor4D;
  });
}
