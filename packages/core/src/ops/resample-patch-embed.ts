import { Matrix, pseudoInverse } from 'ml-matrix';
import { checkInteger, InvalidArgumentError } from '../errors.js';
import { tf } from '../tensor/tf.js';

/**
 * How the patch is resized whose effect the kernel resize undoes (the resize
 * matrix B below). Both are PyTorch's `F.interpolate(mode='bilinear',
 * align_corners=False)`: half-pixel centres; `antialias` widens the triangle
 * filter by the shrink factor when shrinking (PIL-style, as `antialias=True`),
 * which is also what `jax.image.resize(..., 'linear')` does by default.
 */
export interface PatchResampleOptions {
  readonly interpolation?: 'bilinear';
  readonly antialias?: boolean;
}

/**
 * Named settings. `timm`: timm's FlexiViT checkpoint filter
 * (`vision_transformer.py` `_create_vision_transformer`: bilinear, no antialias),
 * which is also big_vision's `resample_patchemb` (`tf.image.resize(method='bilinear')`,
 * whose antialias defaults to off). `antialiased`: the same with antialias when shrinking,
 * the filter big_vision applies to its position embeddings (`jax.image.resize(..., 'linear')`).
 */
export const PATCH_RESAMPLE_PRESETS = {
  timm: { interpolation: 'bilinear', antialias: false },
  antialiased: { interpolation: 'bilinear', antialias: true },
} as const satisfies Record<string, Required<PatchResampleOptions>>;

/**
 * One axis of the patch resize as a dense row-major [outSize, inSize] matrix in
 * float64: row i holds the weights output pixel i takes from each input pixel.
 * Without antialias (and always when enlarging) it is the two-tap half-pixel
 * bilinear rule: src = max((i+½)·s − ½, 0), s = in/out. With antialias and
 * in > out it is PyTorch's `_upsample_bilinear2d_aa`: a triangle of half-width s
 * centred at (i+½)·s, taps cut at the border and renormalised.
 */
export function bilinearResizeMatrix(inSize: number, outSize: number, antialias = false): Float64Array {
  checkInteger('inSize', inSize, 1);
  checkInteger('outSize', outSize, 1);
  const m = new Float64Array(outSize * inSize);
  const scale = inSize / outSize;
  if (antialias && scale > 1) {
    for (let i = 0; i < outSize; i++) {
      const centre = scale * (i + 0.5);
      const lo = Math.max(Math.trunc(centre - scale + 0.5), 0);
      const hi = Math.min(Math.trunc(centre + scale + 0.5), inSize);
      let total = 0;
      for (let j = lo; j < hi; j++) {
        const w = Math.max(0, 1 - Math.abs((j - centre + 0.5) / scale));
        m[i * inSize + j] = w;
        total += w;
      }
      for (let j = lo; j < hi; j++) m[i * inSize + j]! /= total;
    }
    return m;
  }
  for (let i = 0; i < outSize; i++) {
    const src = Math.max((i + 0.5) * scale - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    const f = src - i0;
    m[i * inSize + i0]! += 1 - f;
    m[i * inSize + i1]! += f;
  }
  return m;
}

const pinvCache = new Map<string, Float32Array>();

/**
 * pinv(B₁ᵀ) for one axis, [target, base] row-major, cached per (base, target, filter).
 * The 2-D resize is separable, B = B_h ⊗ B_w, and pinv(A ⊗ C) = pinv(A) ⊗ pinv(C), so
 * the 2-D pseudo-inverse of FlexiViT (paper §3.4, big_vision `resample_patchemb`) is
 * two of these 1-D matrices (shared/docs/papers.md §4.2). Computed once in float64
 * (SVD), then rounded to float32 for the matmuls.
 */
export function patchResamplePinv(base: number, target: number, options: PatchResampleOptions = {}): Float32Array {
  checkInteger('base', base, 1);
  checkInteger('target', target, 1);
  const antialias = options.antialias ?? false;
  const key = `${base}:${target}:${antialias ? 'aa' : 'plain'}`;
  let cached = pinvCache.get(key);
  if (!cached) {
    const b = new Matrix(target, base);
    const values = bilinearResizeMatrix(base, target, antialias);
    for (let i = 0; i < target; i++) for (let j = 0; j < base; j++) b.set(i, j, values[i * base + j]!);
    const p = pseudoInverse(b.transpose());
    cached = Float32Array.from(p.to1DArray());
    pinvCache.set(key, cached);
  }
  return cached;
}

function sizePair(newSize: number | readonly [number, number]): [number, number] {
  if (typeof newSize !== 'number' && !(Array.isArray(newSize) && newSize.length === 2)) {
    throw new InvalidArgumentError('newSize', newSize, 'a patch size (integer ≥ 1) or [height, width]');
  }
  const pair: [number, number] = typeof newSize === 'number' ? [newSize, newSize] : [newSize[0], newSize[1]];
  checkInteger('newSize[0]', pair[0], 1);
  checkInteger('newSize[1]', pair[1], 1);
  return pair;
}

/**
 * FlexiViT's PI-resize of a patch-embedding kernel stored HWIO [kh, kw, in, out]
 * to [h, w, in, out]: ŵ = P_h · W · P_wᵀ per (in, out) slice, the minimum-norm
 * solution of Bᵀŵ = w, so ⟨x, w⟩ = ⟨resize(x), ŵ⟩ for every patch x when
 * enlarging, and the least-squares fit when shrinking. Equals timm's
 * `resample_patch_embed(w, (h, w), interpolation='bilinear', antialias=False)` by
 * default. A differentiable constant linear map: gradients reach `kernel`.
 * Resize from the stored kernel each time; chained resizes lose information.
 */
export function resamplePatchEmbed(
  kernel: tf.Tensor,
  newSize: number | readonly [number, number],
  options: PatchResampleOptions = {},
): tf.Tensor4D {
  if (!(kernel instanceof tf.Tensor) || kernel.rank !== 4) {
    throw new InvalidArgumentError(
      'kernel',
      kernel instanceof tf.Tensor ? `a tensor of shape [${kernel.shape.join(', ')}]` : kernel,
      'a 4-D HWIO kernel [kh, kw, in, out]',
    );
  }
  const [th, tw] = sizePair(newSize);
  if (options.interpolation !== undefined && options.interpolation !== 'bilinear') {
    throw new InvalidArgumentError('options.interpolation', options.interpolation, "'bilinear'");
  }
  if (options.antialias !== undefined && typeof options.antialias !== 'boolean') {
    throw new InvalidArgumentError('options.antialias', options.antialias, 'true or false');
  }
  const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
  if (kh === th && kw === tw) return tf.clone(kernel) as tf.Tensor4D;
  const ph = patchResamplePinv(kh, th, options);
  const pw = patchResamplePinv(kw, tw, options);
  return tf.tidy(() => {
    const channels = cin * cout;
    // Rows: [th, kh] · [kh, kw·C] → [th, kw, C].
    const rows = tf.matMul(tf.tensor2d(ph, [th, kh]), tf.reshape(kernel, [kh, kw * channels]));
    // Columns: for each output row, [tw, kw] · [kw, C], batched over th.
    const perRow = tf.reshape(rows, [th, kw, channels]) as tf.Tensor3D;
    const pwBatch = tf.tile(tf.reshape(tf.tensor2d(pw, [tw, kw]), [1, tw, kw]), [th, 1, 1]) as tf.Tensor3D;
    return tf.reshape(tf.matMul(pwBatch, perRow), [th, tw, cin, cout]) as tf.Tensor4D;
  });
}
