import { checkInteger, InvalidArgumentError } from '../errors.js';
import type { Grid } from '../tensor/layout.js';
import { tf } from '../tensor/tf.js';

export interface UnfoldArgs {
  /** Window size, square or [height, width]. */
  readonly kernelSize: number | readonly [number, number];
  /** Step between windows (default 1). */
  readonly stride?: number | readonly [number, number];
  /** Zero padding added on both sides of each axis (default 0), as PyTorch's symmetric `padding`. */
  readonly padding?: number | readonly [number, number];
}

interface ResolvedUnfold {
  readonly kernel: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
}

function pair(name: string, value: number | readonly [number, number] | undefined, fallback: number, min: number): [number, number] {
  if (value === undefined) return [fallback, fallback];
  if (typeof value === 'number') {
    checkInteger(name, value, min);
    return [value, value];
  }
  if (!Array.isArray(value) || value.length !== 2) throw new InvalidArgumentError(name, value, `an integer >= ${min} or a pair [height, width] of them`);
  checkInteger(`${name}[0]`, value[0], min);
  checkInteger(`${name}[1]`, value[1], min);
  return [value[0], value[1]];
}

function resolve(args: UnfoldArgs): ResolvedUnfold {
  if (!args || typeof args !== 'object') throw new InvalidArgumentError('unfold args', args, '{kernelSize, stride?, padding?}');
  return {
    kernel: pair('kernelSize', args.kernelSize, 1, 1),
    stride: pair('stride', args.stride, 1, 1),
    padding: pair('padding', args.padding, 0, 0),
  };
}

/** Windows along one axis of length L: ⌊(L + 2p − k)/s⌋ + 1 (PyTorch's nn.Unfold / nn.Conv2d). */
export function unfoldOutputSize(length: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((length + 2 * padding - kernel) / stride) + 1;
}

/**
 * The window grid unfold produces on a height×width input, from the exact
 * per-axis formula (T2T-ViT's code uses img_size // 16, which is wrong off
 * multiples of 16). Throws when the padded input is smaller than one window.
 */
export function unfoldGrid(height: number, width: number, args: UnfoldArgs): Grid {
  const { kernel, stride, padding } = resolve(args);
  checkInteger('height', height, 1);
  checkInteger('width', width, 1);
  const grid = {
    height: unfoldOutputSize(height, kernel[0], stride[0], padding[0]),
    width: unfoldOutputSize(width, kernel[1], stride[1], padding[1]),
  };
  if (grid.height < 1 || grid.width < 1) {
    throw new InvalidArgumentError(
      'kernelSize',
      kernel[0] === kernel[1] ? kernel[0] : kernel,
      `a window that fits the ${height}x${width} input padded by ${padding[0]}x${padding[1]} (at most ${height + 2 * padding[0]}x${width + 2 * padding[1]})`,
    );
  }
  return grid;
}

/**
 * Block-aligned windows: x [M, blocks·chunk] → [M, q, count·chunk], where entry
 * (j, i) is block i + j. Each piece is one 2-D slice (a contiguous copy per row
 * on wasm) and they are joined by one concat (whose gradient is a split, also
 * row copies), not a stack (whose gradient, unstack, copies element-wise).
 */
function shiftedBlocks(x: tf.Tensor2D, count: number, q: number, chunk: number): tf.Tensor2D {
  const m = x.shape[0];
  const parts = Array.from({ length: q }, (_, j) => tf.slice(x, [0, j * chunk], [m, count * chunk]));
  return (q === 1 ? parts[0]! : tf.concat(parts, 1)) as tf.Tensor2D;
}

/**
 * Sliding-window patch extraction (PyTorch's nn.Unfold, "soft split" in
 * T2T-ViT §3.1) on an NHWC batch: [B, H, W, C] → [B, h·w, C·kh·kw], windows in
 * row-major order, features channel-major (index c·kh·kw + ki·kw + kj) exactly
 * as PyTorch orders them, so ported weights that read unfolded features line up.
 *
 * Built from pads, 2-D slices, reshapes, one concat per axis and transposes, so
 * its gradient (the fold) is made of the same ops and runs natively on every
 * backend, wasm included (no convolution, whose filter gradient tfjs-wasm lacks).
 * Each axis is split into stride-sized blocks: a window starting at block i
 * covers blocks i … i+⌈k/s⌉−1, of which the first k rows are kept.
 */
export function unfold(x: tf.Tensor4D, args: UnfoldArgs): tf.Tensor3D {
  if (!(x instanceof tf.Tensor) || x.rank !== 4) {
    throw new InvalidArgumentError('x', x instanceof tf.Tensor ? `a tensor of shape [${x.shape.join(', ')}]` : x, 'an NHWC batch [B, H, W, C]');
  }
  const { kernel, stride, padding } = resolve(args);
  const [b, h, w, c] = x.shape;
  const grid = unfoldGrid(h, w, args);
  const [kh, kw] = kernel;
  const [sh, sw] = stride;
  const [ph, pw] = padding;
  const qh = Math.ceil(kh / sh);
  const qw = Math.ceil(kw / sw);
  // Rows/columns the blocked view needs: whole stride blocks covering every window.
  const needH = sh * (grid.height + qh - 1);
  const needW = sw * (grid.width + qw - 1);
  return tf.tidy(() => {
    // Crop what no window reaches (only happens when the stride skips the tail), then zero-pad.
    const keepH = Math.min(h, needH - ph);
    const keepW = Math.min(w, needW - pw);
    let t: tf.Tensor = x;
    if (keepW < w) t = tf.reshape(tf.slice(tf.reshape(t, [b * h, w * c]), [0, 0], [b * h, keepW * c]), [b, h, keepW, c]);
    if (keepH < h) t = tf.reshape(tf.slice(tf.reshape(t, [b, h * keepW * c]), [0, 0], [b, keepH * keepW * c]), [b, keepH, keepW, c]);
    const bottom = needH - ph - keepH;
    const right = needW - pw - keepW;
    // Padding as two 2-D pads: their gradients are 2-D slices (a copy per row), where a 4-D pad's
    // gradient would copy C values at a time on wasm.
    if (pw || right) t = tf.reshape(tf.pad(tf.reshape(t, [b * keepH, keepW * c]), [[0, 0], [pw * c, right * c]]), [b, keepH, needW, c]);
    if (ph || bottom) t = tf.reshape(tf.pad(tf.reshape(t, [b, keepH * needW * c]), [[0, 0], [ph * needW * c, bottom * needW * c]]), [b, needH, needW, c]);

    // Rows: [B, (oh+qh−1)·sh·needW·C] → [B, qh, oh, sh·needW·C] → [B·oh, qh·sh (taps), needW·C];
    // tap ki of window y is padded row y·sh + ki, and only the first kh taps are kept.
    const rowChunk = sh * needW * c;
    const rowBlocks = tf.reshape(shiftedBlocks(tf.reshape(t, [b, needH * needW * c]) as tf.Tensor2D, grid.height, qh, rowChunk), [b, qh, grid.height, rowChunk]);
    const rowTaps = tf.reshape(tf.transpose(rowBlocks, [0, 2, 1, 3]), [b * grid.height, qh * rowChunk]);
    const rows = qh * sh === kh ? rowTaps : tf.slice(rowTaps, [0, 0], [b * grid.height, kh * needW * c]);

    // Columns, with (B, oh, ki) as rows: [M, needW·C] → [M, qw, ow, sw, C] → taps ahead of windows,
    // [M, qw·sw, ow·C], so that keeping the first kw taps is one contiguous copy per row.
    const m = b * grid.height * kh;
    const colBlocks = tf.reshape(shiftedBlocks(tf.reshape(rows, [m, needW * c]) as tf.Tensor2D, grid.width, qw, sw * c), [m, qw, grid.width, sw, c]);
    const colTaps = tf.reshape(tf.transpose(colBlocks, [0, 1, 3, 2, 4]), [m, qw * sw * grid.width * c]);
    const cols = qw * sw === kw ? colTaps : tf.slice(colTaps, [0, 0], [m, kw * grid.width * c]);

    // [B·oh, ki, kj, ow, C] → [B·oh, ow, C, ki, kj]: PyTorch's channel-major feature order.
    const patches = tf.transpose(tf.reshape(cols, [b * grid.height, kh, kw, grid.width, c]), [0, 3, 4, 1, 2]);
    return tf.reshape(patches, [b, grid.height * grid.width, c * kh * kw]) as tf.Tensor3D;
  });
}
