import { tf } from '../tensor/tf.js';
import { WASM_BYTES_BASE64 } from './kernels/attention-heads.wasm.js';
import { simdKernel } from './simd-kernel.js';

/*
 * The layout change around multi-head attention on the wasm backend
 * (kernels/attention-heads.wat): tokens [B, N, S·H·d] ↔ S head-major tensors
 * [B, H, N, d], as block copies, instead of tfjs's reshape/transpose/split chain (and
 * its Concat and Transposes backward). A pure permutation, so values are bit-identical.
 * The two kernels are each other's gradient (registered with tf.registerGradient).
 */

export const WASM_TOKENS_TO_HEADS_KERNEL = 'TesseraTokensToHeads';
export const WASM_HEADS_TO_TOKENS_KERNEL = 'TesseraHeadsToTokens';

interface HeadsExports {
  tokens_to_heads(tokens: number, h0: number, h1: number, h2: number, b: number, n: number, s: number, h: number, d: number): void;
  heads_to_tokens(h0: number, h1: number, h2: number, tokens: number, b: number, n: number, s: number, h: number, d: number): void;
}

/** Input names of the head-major tensors, part by part. */
const PART_NAMES = ['h0', 'h1', 'h2'] as const;

const kernel = simdKernel<HeadsExports>(WASM_BYTES_BASE64, [
  {
    kernelName: WASM_TOKENS_TO_HEADS_KERNEL,
    run: (k, heap, { x }, attrs) => {
      const parts = attrs.parts as number;
      const heads = attrs.heads as number;
      const [b, n, width] = x!.shape as [number, number, number];
      const d = width / (parts * heads);
      const outs = Array.from({ length: parts }, () => heap.makeOutput([b, heads, n, d]));
      const at = outs.map((o) => heap.offsetOf(o));
      k.tokens_to_heads(heap.offsetOf(x!), at[0]!, at[1] ?? 0, at[2] ?? 0, b, n, parts, heads, d);
      return outs;
    },
  },
  {
    kernelName: WASM_HEADS_TO_TOKENS_KERNEL,
    run: (k, heap, inputs) => {
      const parts = PART_NAMES.filter((name) => inputs[name]).map((name) => inputs[name]!);
      const [b, heads, n, d] = parts[0]!.shape as [number, number, number, number];
      const out = heap.makeOutput([b, n, parts.length * heads * d]);
      const at = parts.map((p) => heap.offsetOf(p));
      k.heads_to_tokens(at[0]!, at[1] ?? 0, at[2] ?? 0, heap.offsetOf(out), b, n, parts.length, heads, d);
      return out;
    },
  },
]);

let gradientsRegistered = false;

function registerGradients(): void {
  if (gradientsRegistered) return;
  gradientsRegistered = true;
  tf.registerGradient({
    kernelName: WASM_TOKENS_TO_HEADS_KERNEL,
    gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
      // One dy per part (the engine passes zeros for a part no loss depends on).
      const dys = (Array.isArray(dy) ? dy : [dy]) as tf.Tensor4D[];
      return { x: () => headsToTokens(dys) };
    },
  });
  tf.registerGradient({
    kernelName: WASM_HEADS_TO_TOKENS_KERNEL,
    gradFunc: (dy: tf.Tensor | tf.Tensor[], _saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const parts = tokensToHeads(dy as tf.Tensor3D, attrs.parts as number, attrs.heads as number);
      return Object.fromEntries(parts.map((p, i) => [PART_NAMES[i]!, () => p]));
    },
  });
}

function tokensToHeads(x: tf.Tensor3D, parts: number, heads: number): tf.Tensor4D[] {
  const out = tf.engine().runKernel(WASM_TOKENS_TO_HEADS_KERNEL, { x } as unknown as tf.NamedTensorMap, { parts, heads }) as tf.Tensor4D | tf.Tensor4D[];
  return Array.isArray(out) ? out : [out];
}

function headsToTokens(parts: tf.Tensor4D[]): tf.Tensor3D {
  const inputs = Object.fromEntries(parts.map((p, i) => [PART_NAMES[i]!, p]));
  return tf.engine().runKernel(WASM_HEADS_TO_TOKENS_KERNEL, inputs as unknown as tf.NamedTensorMap, { parts: parts.length, heads: parts[0]!.shape[1] }) as tf.Tensor3D;
}

/** Whether the head-layout kernels serve the current backend (exposed for tests and benchmarks). */
export function wasmAttentionHeadsActive(): boolean {
  if (!kernel.active()) return false;
  registerGradients();
  return true;
}

/**
 * tokens [B, N, parts·heads·d] (channels ordered (part, head, d)) → `parts` tensors
 * [B, heads, N, d] on the wasm kernel; null where it does not apply (other backends, other
 * dtypes, empty tensors, a width that does not split evenly).
 */
export function wasmTokensToHeads(x: tf.Tensor3D, parts: number, heads: number): tf.Tensor4D[] | null {
  if (parts < 1 || parts > PART_NAMES.length || x.dtype !== 'float32' || x.size === 0 || x.shape[2] % (parts * heads) !== 0 || !wasmAttentionHeadsActive()) return null;
  return tokensToHeads(x, parts, heads);
}

/** The inverse: `parts` tensors [B, heads, N, d] → tokens [B, N, parts·heads·d] on the wasm kernel; null where it does not apply. */
export function wasmHeadsToTokens(parts: tf.Tensor4D[]): tf.Tensor3D | null {
  const first = parts[0];
  if (!first || parts.length > PART_NAMES.length || first.size === 0) return null;
  if (parts.some((p) => p.dtype !== 'float32' || p.shape.some((s, i) => s !== first.shape[i])) || !wasmAttentionHeadsActive()) return null;
  return headsToTokens(parts);
}
