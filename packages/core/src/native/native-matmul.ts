import { InvalidArgumentError } from '../errors.js';
import { wasmHeap, type WasmHeap } from '../ops/wasm-adapter.js';
import { tf } from '../tensor/tf.js';
import { onnxModel, type OnnxNode } from './onnx-graph.js';
import { availableCores, onnxRuntime, OnnxRuntimeUnavailable, type OnnxRuntime, type OrtSession } from './onnxruntime.js';

/*
 * An optional native BLAS for the wasm backend's matrix products. tfjs-wasm runs
 * BatchMatMul and _FusedMatMul in XNNPACK on one thread; on the 2-core machine
 * of shared/docs/perf-anchors.md that is 10-14 GFLOP/s under load for the
 * DeiT-Tiny step's shapes, where onnxruntime-node's CPU Gemm/MatMul (MLAS) does
 * 27-38 GFLOP/s on one thread (bench/native-matmul.mjs). onnxruntime-node ships
 * its CPU binaries in the npm tarball (no install script needed for them), so
 * when it is installed the two kernels are re-registered on the wasm backend to
 * run one-operator ONNX graphs, synchronously, on views of the wasm heap: no copies.
 * What a graph cannot express the same way (non-float32, activations other than
 * linear/relu, PReLU weights, products too small to pay the call) goes to the
 * original tfjs kernel, kept for that purpose.
 */

export const NATIVE_MATMUL_MODES = ['auto', 'on', 'off'] as const;
/** `auto`: on when onnxruntime-node is installed and the backend is wasm; `on`: fail unless it can be on; `off`: tfjs's own kernels. */
export type NativeMatMulMode = (typeof NATIVE_MATMUL_MODES)[number];

export interface NativeMatMulOptions {
  readonly mode?: NativeMatMulMode;
  /** Threads each product may use; default: every core (a data-parallel worker passes cores / workers). */
  readonly threads?: number;
}

export interface NativeMatMulStatus {
  readonly mode: NativeMatMulMode;
  /** Whether the wasm backend's BatchMatMul and _FusedMatMul now run in onnxruntime. */
  readonly active: boolean;
  /** e.g. `onnxruntime-node 1.30.0`, when active. */
  readonly provider?: string;
  readonly threads?: number;
  /** Why it is not active (absent when it is, or when mode is off). */
  readonly reason?: string;
  /** Products run natively and products handed to the original kernels since it was switched on. */
  readonly calls: { readonly native: number; readonly fallback: number };
}

export class NativeMatMulUnavailableError extends Error {}

const ROUTED_KERNELS = ['BatchMatMul', '_FusedMatMul'] as const;
type RoutedKernel = (typeof ROUTED_KERNELS)[number];

/*
 * Below this many multiply-adds the per-call cost (onnxruntime-common tensors,
 * the N-API crossing, session dispatch) outweighs MLAS's speed.
 * bench/native-matmul.mjs, one thread, tfjs's time ÷ native time: [64,64]·[64,64]
 * (262k) 0.65-0.78, [96,96]·[96,96] (885k) 1.23, [128,128]·[128,128] 1.91.
 */
export const NATIVE_MIN_MACS = 2 ** 19;

interface State {
  mode: NativeMatMulMode;
  active: boolean;
  threads?: number;
  reason?: string;
  runtime?: OnnxRuntime;
  calls: { native: number; fallback: number };
}

const state: State = { mode: 'off', active: false, calls: { native: 0, fallback: 0 } };
const originals = new Map<RoutedKernel, tf.KernelConfig>();
const sessions = new Map<string, OrtSession>();
const heaps = new WeakMap<object, WasmHeap | null>();

function heapOf(backend: object): WasmHeap | null {
  let heap = heaps.get(backend);
  if (heap === undefined) {
    heap = wasmHeap(backend);
    heaps.set(backend, heap);
  }
  return heap;
}

/** What one routed product computes; everything a session variant and a call need. */
interface Plan {
  readonly a: tf.TensorInfo;
  readonly b: tf.TensorInfo;
  readonly bias: tf.TensorInfo | null;
  readonly transposeA: boolean;
  readonly transposeB: boolean;
  readonly relu: boolean;
  /** Gemm on 2-D operands when neither side has a batch; MatMul on rank-3 operands otherwise. */
  readonly batched: boolean;
  readonly aDims: number[];
  readonly bDims: number[];
  readonly outShape: number[];
  readonly outDims: number[];
}

const product = (dims: readonly number[]) => dims.reduce((x, y) => x * y, 1);

function plan(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean, bias: tf.TensorInfo | null, relu: boolean): Plan | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || (bias && bias.dtype !== 'float32')) return null;
  if (a.shape.length < 2 || b.shape.length < 2) return null;
  const [ra, ca] = a.shape.slice(-2) as [number, number];
  const [rb, cb] = b.shape.slice(-2) as [number, number];
  const [m, k] = transposeA ? [ca, ra] : [ra, ca];
  const [kb, n] = transposeB ? [cb, rb] : [rb, cb];
  // Mismatches and bad bias shapes go to the original kernel, which raises tfjs's own error.
  if (k !== kb || m * n * k === 0) return null;
  const batchA = product(a.shape.slice(0, -2));
  const batchB = product(b.shape.slice(0, -2));
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return null;
  let outer: number[];
  try {
    outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  } catch {
    return null;
  }
  // A rank-1 bias of n or 1 values broadcasts over the last axis in both tfjs and ONNX.
  if (bias && (bias.shape.length !== 1 || (bias.shape[0] !== n && bias.shape[0] !== 1))) return null;
  const batch = Math.max(batchA, batchB);
  if (batch * m * n * k < NATIVE_MIN_MACS) return null;
  const batched = batch > 1;
  return {
    a,
    b,
    bias,
    transposeA,
    transposeB,
    relu,
    batched,
    aDims: batched ? [batchA, ra, ca] : [ra, ca],
    bDims: batched ? [batchB, rb, cb] : [rb, cb],
    outShape: [...outer, m, n],
    outDims: batched ? [batch, m, n] : [m, n],
  };
}

/*
 * One graph per variant, all dimensions symbolic. 2-D: Gemm (transA/transB
 * attributes, bias as C). Batched: MatMul, which broadcasts a batch of 1, with
 * Transposes of the last two axes before it (onnxruntime's optimiser folds them
 * into the product) and Add for the bias. Relu follows either; onnxruntime fuses it.
 */
function graph(p: Plan): Uint8Array {
  const nodes: OnnxNode[] = [];
  const rank = p.batched ? 3 : 2;
  const inputs = [
    { name: 'a', rank },
    { name: 'b', rank },
  ];
  if (p.bias) inputs.push({ name: 'bias', rank: 1 });
  const product = p.relu ? 'product' : 'y';
  if (!p.batched) {
    const attributes = [
      { name: 'transA', int: p.transposeA ? 1 : 0 },
      { name: 'transB', int: p.transposeB ? 1 : 0 },
    ];
    nodes.push({ op: 'Gemm', inputs: p.bias ? ['a', 'b', 'bias'] : ['a', 'b'], outputs: [product], attributes });
  } else {
    const swap = (name: string) => {
      nodes.push({ op: 'Transpose', inputs: [name], outputs: [`${name}_t`], attributes: [{ name: 'perm', ints: [0, 2, 1] }] });
      return `${name}_t`;
    };
    const left = p.transposeA ? swap('a') : 'a';
    const right = p.transposeB ? swap('b') : 'b';
    nodes.push({ op: 'MatMul', inputs: [left, right], outputs: [p.bias ? 'matmul' : product] });
    if (p.bias) nodes.push({ op: 'Add', inputs: ['matmul', 'bias'], outputs: [product] });
  }
  if (p.relu) nodes.push({ op: 'Relu', inputs: ['product'], outputs: ['y'] });
  return onnxModel(nodes, inputs, [{ name: 'y', rank }]);
}

function sessionFor(p: Plan, runtime: OnnxRuntime, threads: number): OrtSession {
  const variant = `${p.batched ? 'matmul' : 'gemm'} tA=${+p.transposeA} tB=${+p.transposeB} bias=${+!!p.bias} relu=${+p.relu} threads=${threads}`;
  let session = sessions.get(variant);
  if (!session) {
    const model = graph(p);
    session = runtime.createSession();
    session.loadModel(model.buffer, model.byteOffset, model.byteLength, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      // Each session has its own pool; idle pools must sleep, not spin, or they steal the cores the wasm kernels need.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    sessions.set(variant, session);
  }
  return session;
}

function runNative(p: Plan, backend: object): tf.TensorInfo {
  const runtime = state.runtime!;
  const heap = heapOf(backend)!;
  const session = sessionFor(p, runtime, state.threads!);
  const out = heap.makeOutput(p.outShape);
  // Views are made after makeOutput: allocating may grow the heap and detach older views.
  const view = (t: tf.TensorInfo) => new Float32Array(heap.memory.buffer, heap.offsetOf(t), product(t.shape));
  const feeds: Record<string, object> = { a: new runtime.Tensor('float32', view(p.a), p.aDims), b: new runtime.Tensor('float32', view(p.b), p.bDims) };
  if (p.bias) feeds.bias = new runtime.Tensor('float32', view(p.bias), p.bias.shape);
  session.run(feeds, { y: new runtime.Tensor('float32', view(out), p.outDims) }, {});
  state.calls.native++;
  return out;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

function original(name: RoutedKernel, args: KernelArgs) {
  state.calls.fallback++;
  return originals.get(name)!.kernelFunc(args);
}

function batchMatMulKernel(args: KernelArgs) {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const p = state.active && heapOf(args.backend) ? plan(a, b, !!transposeA, !!transposeB, null, false) : null;
  return p ? runNative(p, args.backend) : original('BatchMatMul', args);
}

function fusedMatMulKernel(args: KernelArgs) {
  const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const { transposeA, transposeB, activation } = args.attrs as { transposeA: boolean; transposeB: boolean; activation: string };
  const fusable = (activation === 'linear' || activation === 'relu') && !preluActivationWeights;
  const p = state.active && fusable && heapOf(args.backend) ? plan(a!, b!, !!transposeA, !!transposeB, bias ?? null, activation === 'relu') : null;
  return p ? runNative(p, args.backend) : original('_FusedMatMul', args);
}

const ROUTES: Record<RoutedKernel, tf.KernelFunc> = { BatchMatMul: batchMatMulKernel as tf.KernelFunc, _FusedMatMul: fusedMatMulKernel as tf.KernelFunc };

function route(): void {
  for (const name of ROUTED_KERNELS) {
    if (originals.has(name)) continue;
    const kernel = tf.getKernel(name, 'wasm');
    if (!kernel) throw new NativeMatMulUnavailableError(`the wasm backend has no ${name} kernel to replace`);
    originals.set(name, kernel);
    tf.unregisterKernel(name, 'wasm');
    // The original setupFunc stays: a wasm backend created later must still initialise the kernel this one falls back to.
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: ROUTES[name], ...(kernel.setupFunc ? { setupFunc: kernel.setupFunc } : {}) });
  }
}

function unroute(): void {
  for (const [name, kernel] of originals) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(kernel);
  }
  originals.clear();
}

function checkThreads(threads: number | undefined): number {
  if (threads === undefined) return availableCores();
  if (!Number.isInteger(threads) || threads < 1 || threads > 1024) throw new InvalidArgumentError('threads', String(threads), 'an integer from 1 to 1024');
  return threads;
}

/**
 * Switches the native matmul on or off for the wasm backend (setBackend calls
 * this; call it directly to change threads or mode later). `auto` turns it on
 * when onnxruntime-node 1.30 is installed and tfjs-wasm's internals are the
 * supported ones, and otherwise leaves tfjs's kernels in place silently (the
 * status says why); `on` throws NativeMatMulUnavailableError instead.
 */
export function configureNativeMatMul(options: NativeMatMulOptions = {}): NativeMatMulStatus {
  const mode = options.mode ?? 'auto';
  if (!(NATIVE_MATMUL_MODES as readonly string[]).includes(mode)) throw new InvalidArgumentError('nativeMatMul', String(mode), `one of ${NATIVE_MATMUL_MODES.join(', ')}`);
  const threads = checkThreads(options.threads);
  state.mode = mode;
  state.reason = undefined;
  if (mode === 'off') {
    state.active = false;
    unroute();
    return nativeMatMulStatus();
  }
  try {
    if (tf.getBackend() !== 'wasm') throw new OnnxRuntimeUnavailable(`it replaces the wasm backend's kernels and the backend is ${tf.getBackend()}`);
    const backend = tf.findBackend('wasm');
    if (!backend || !heapOf(backend)) throw new OnnxRuntimeUnavailable("tfjs-backend-wasm's internals are not the supported ones");
    state.runtime = onnxRuntime();
  } catch (error) {
    state.active = false;
    unroute();
    state.reason = error instanceof Error ? error.message : String(error);
    if (mode === 'on') throw new NativeMatMulUnavailableError(`native matmul was requested (on) but cannot run: ${state.reason}`);
    return nativeMatMulStatus();
  }
  if (!state.active) state.calls = { native: 0, fallback: 0 };
  state.threads = threads;
  route();
  state.active = true;
  return nativeMatMulStatus();
}

/** Whether the wasm backend's matrix products run natively now, and how. */
export function nativeMatMulStatus(): NativeMatMulStatus {
  return {
    mode: state.mode,
    active: state.active,
    ...(state.active ? { provider: `onnxruntime-node ${state.runtime!.version}`, threads: state.threads } : {}),
    ...(state.reason !== undefined ? { reason: state.reason } : {}),
    calls: { ...state.calls },
  };
}

/**
 * Whether a product of this many multiply-adds on the current backend runs
 * natively (core's own batched SIMD kernel defers to the native one then; below
 * the threshold it keeps it, as tfjs's batched kernel is a scalar loop).
 */
export function nativeMatMulRoutes(macs: number): boolean {
  return state.active && macs >= NATIVE_MIN_MACS && tf.getBackend() === 'wasm';
}
