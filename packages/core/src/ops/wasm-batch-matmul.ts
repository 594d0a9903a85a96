import { tf } from '../tensor/tf.js';

/*
 * tfjs-wasm 4.22 hands a BatchMatMul to XNNPACK only when it is a single,
 * non-transposed 2-D product; everything else (attention's q·kᵀ and p·v with
 * batch = images × heads) runs in a scalar C++ loop at about 2–3 GFLOP/s, 61% of
 * a DeiT-Tiny training step after the linear layers were fixed
 * (shared/docs/perf-anchors.md). Splitting the batch into 2-D products does not
 * help: on wasm every Slice copies its whole input, and XNNPACK repacks the
 * right-hand matrix on every call.
 *
 * This file emits, byte by byte, a small WebAssembly module with one SIMD128
 * kernel, C[b] = A[b]·B[b] for row-major float32 matrices, that imports the
 * tfjs-wasm backend's own linear memory. It is registered as an extra kernel,
 * `TesseraBatchMatMul`, on the wasm backend, so it reads and writes tensors in
 * place: no copies, no new toolchain, nothing at install time. The loop keeps a
 * 2-row × 16-column block of C in eight f32x4 registers over the whole inner
 * dimension (every loaded B vector feeds two rows), then falls back to 4-column
 * and scalar tails.
 */

export const WASM_BATCH_MATMUL_KERNEL = 'TesseraBatchMatMul';

// --- a minimal WebAssembly encoder -------------------------------------------------------------

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

function uleb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function sleb(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const str = (s: string): number[] => [...uleb(s.length), ...[...s].map((ch) => ch.charCodeAt(0))];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

/** Bytecode for one function body, written as a flat instruction list. */
class Code {
  readonly bytes: number[] = [];
  private emit(...b: number[]): this {
    this.bytes.push(...b);
    return this;
  }
  get(i: number): this {
    return this.emit(0x20, ...uleb(i));
  }
  set(i: number): this {
    return this.emit(0x21, ...uleb(i));
  }
  i32(v: number): this {
    return this.emit(0x41, ...sleb(v));
  }
  add(): this {
    return this.emit(0x6a);
  }
  mul(): this {
    return this.emit(0x6c);
  }
  geS(): this {
    return this.emit(0x4e);
  }
  ltS(): this {
    return this.emit(0x48);
  }
  gtS(): this {
    return this.emit(0x4a);
  }
  f32Load(offset = 0): this {
    return this.emit(0x2a, 0x00, ...uleb(offset));
  }
  f32Store(offset = 0): this {
    return this.emit(0x38, 0x00, ...uleb(offset));
  }
  f32Zero(): this {
    return this.emit(0x43, 0, 0, 0, 0);
  }
  f32Add(): this {
    return this.emit(0x92);
  }
  f32Mul(): this {
    return this.emit(0x94);
  }
  v128Load(offset = 0): this {
    return this.emit(0xfd, 0x00, 0x00, ...uleb(offset));
  }
  v128Store(offset = 0): this {
    return this.emit(0xfd, 0x0b, 0x00, ...uleb(offset));
  }
  v128Zero(): this {
    return this.emit(0xfd, 0x0c, ...new Array<number>(16).fill(0));
  }
  splat(): this {
    return this.emit(0xfd, 0x13);
  }
  f32x4Add(): this {
    return this.emit(0xfd, 0xe4, 0x01);
  }
  f32x4Mul(): this {
    return this.emit(0xfd, 0xe6, 0x01);
  }
  /** `local += step` for an i32 local. */
  inc(local: number, step: number | (() => void)): this {
    this.get(local);
    if (typeof step === 'number') this.i32(step);
    else step();
    return this.add().set(local);
  }
  /** while (cond) body — cond pushes an i32. */
  while(cond: () => void, body: () => void): this {
    this.emit(0x02, 0x40, 0x03, 0x40);
    cond();
    this.emit(0x45, 0x0d, 0x01); // i32.eqz; br_if 1 (leave the block)
    body();
    this.emit(0x0c, 0x00, 0x0b, 0x0b); // br 0 (repeat); end loop; end block
    return this;
  }
}

function batchMatMulModule(): Uint8Array<ArrayBuffer> {
  // Parameters: byte offsets of A, B, C and the sizes batch, m, k, n.
  const [A, B, C, BATCH, M, K, N] = [0, 1, 2, 3, 4, 5, 6];
  // i32 locals
  const [bt, i, j, p, aRow, bMat, cRow, aPtr, bPtr, bRowBytes, cPtr, aRow2, aPtr2] = [7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
  // v128 locals: accumulators for row 0 (acc[0..3]) and row 1 (acc[4..7]), the splatted A values
  const acc = [20, 21, 22, 23, 24, 25, 26, 27];
  const [av, av2] = [28, 29];
  const s = 30; // f32
  const s2 = 31; // f32
  const c = new Code();
  const innerLoop = (rows: 1 | 2, vectors: number) => {
    for (let r = 0; r < rows; r++) for (let v = 0; v < vectors; v++) c.v128Zero().set(acc[r * 4 + v]!);
    c.get(aRow).set(aPtr);
    if (rows === 2) c.get(aRow2).set(aPtr2);
    c.get(bMat).get(j).i32(4).mul().add().set(bPtr);
    c.i32(0).set(p);
    c.while(
      () => c.get(p).get(K).ltS(),
      () => {
        c.get(aPtr).f32Load().splat().set(av);
        if (rows === 2) c.get(aPtr2).f32Load().splat().set(av2);
        for (let v = 0; v < vectors; v++) {
          // One B vector load shared by both rows.
          c.get(acc[v]!).get(av).get(bPtr).v128Load(16 * v).f32x4Mul().f32x4Add().set(acc[v]!);
          if (rows === 2) c.get(acc[4 + v]!).get(av2).get(bPtr).v128Load(16 * v).f32x4Mul().f32x4Add().set(acc[4 + v]!);
        }
        c.inc(aPtr, 4);
        if (rows === 2) c.inc(aPtr2, 4);
        c.inc(bPtr, () => c.get(bRowBytes));
        c.inc(p, 1);
      },
    );
    c.get(cRow).get(j).i32(4).mul().add().set(cPtr);
    for (let v = 0; v < vectors; v++) c.get(cPtr).get(acc[v]!).v128Store(16 * v);
    if (rows === 2) for (let v = 0; v < vectors; v++) c.get(cPtr).get(bRowBytes).add().get(acc[4 + v]!).v128Store(16 * v);
  };
  const scalarTail = (rows: 1 | 2) => {
    c.f32Zero().set(s);
    if (rows === 2) c.f32Zero().set(s2);
    c.get(aRow).set(aPtr);
    if (rows === 2) c.get(aRow2).set(aPtr2);
    c.get(bMat).get(j).i32(4).mul().add().set(bPtr);
    c.i32(0).set(p);
    c.while(
      () => c.get(p).get(K).ltS(),
      () => {
        c.get(s).get(aPtr).f32Load().get(bPtr).f32Load().f32Mul().f32Add().set(s);
        if (rows === 2) c.get(s2).get(aPtr2).f32Load().get(bPtr).f32Load().f32Mul().f32Add().set(s2);
        c.inc(aPtr, 4);
        if (rows === 2) c.inc(aPtr2, 4);
        c.inc(bPtr, () => c.get(bRowBytes));
        c.inc(p, 1);
      },
    );
    c.get(cRow).get(j).i32(4).mul().add().set(cPtr);
    c.get(cPtr).get(s).f32Store();
    if (rows === 2) c.get(cPtr).get(bRowBytes).add().get(s2).f32Store();
  };
  const columnBlocks = (rows: 1 | 2) => {
    c.i32(0).set(j);
    // j + 16 <= n  ⇔  j + 16 < n + 1
    c.while(
      () => c.get(j).i32(16).add().get(N).i32(1).add().ltS(),
      () => {
        innerLoop(rows, 4);
        c.inc(j, 16);
      },
    );
    c.while(
      () => c.get(j).i32(4).add().get(N).i32(1).add().ltS(),
      () => {
        innerLoop(rows, 1);
        c.inc(j, 4);
      },
    );
    c.while(
      () => c.get(j).get(N).ltS(),
      () => {
        scalarTail(rows);
        c.inc(j, 1);
      },
    );
  };

  c.get(N).i32(4).mul().set(bRowBytes);
  c.i32(0).set(bt);
  c.while(
    () => c.get(bt).get(BATCH).ltS(),
    () => {
      c.get(A).get(bt).get(M).mul().get(K).mul().i32(4).mul().add().set(aRow);
      c.get(B).get(bt).get(K).mul().get(N).mul().i32(4).mul().add().set(bMat);
      c.get(C).get(bt).get(M).mul().get(N).mul().i32(4).mul().add().set(cRow);
      c.i32(0).set(i);
      // Pairs of rows: i + 2 <= m.
      c.while(
        () => c.get(i).i32(2).add().get(M).i32(1).add().ltS(),
        () => {
          c.get(aRow).get(K).i32(4).mul().add().set(aRow2);
          columnBlocks(2);
          c.inc(aRow, () => c.get(K).i32(8).mul());
          c.inc(cRow, () => c.get(N).i32(8).mul());
          c.inc(i, 2);
        },
      );
      c.while(
        () => c.get(i).get(M).ltS(),
        () => {
          columnBlocks(1);
          c.inc(aRow, () => c.get(K).i32(4).mul());
          c.inc(cRow, () => c.get(N).i32(4).mul());
          c.inc(i, 1);
        },
      );
      c.inc(bt, 1);
    },
  );
  c.bytes.push(0x0b); // end of function

  const locals = [...uleb(3), ...uleb(13), I32, ...uleb(10), V128, ...uleb(2), F32];
  const body = [...locals, ...c.bytes];
  const type = [0x01, 0x60, 0x07, I32, I32, I32, I32, I32, I32, I32, 0x00];
  const imports = [0x01, ...str('env'), ...str('memory'), 0x02, 0x00, ...uleb(1)];
  const functions = [0x01, 0x00];
  const exports = [0x01, ...str('bmm'), 0x00, 0x00];
  const code = [0x01, ...uleb(body.length), ...body];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, type),
    ...section(2, imports),
    ...section(3, functions),
    ...section(7, exports),
    ...section(10, code),
  ]);
}

// --- the kernel on the wasm backend ------------------------------------------------------------

interface WasmBackendInternals {
  wasm: { asm?: { memory?: unknown } };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

type Bmm = (a: number, b: number, c: number, batch: number, m: number, k: number, n: number) => void;

let compiled: WebAssembly.Module | null | undefined;
/** One kernel instance per wasm heap: a re-created wasm backend comes with a new memory. */
const instances = new WeakMap<WebAssembly.Memory, Bmm>();
let registered = false;

function kernelFor(backend: WasmBackendInternals): Bmm | null {
  const memory = backend.wasm.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return null;
  let bmm = instances.get(memory);
  if (!bmm) {
    if (compiled === undefined) {
      try {
        compiled = new WebAssembly.Module(batchMatMulModule());
      } catch {
        compiled = null;
      }
    }
    if (!compiled) return null;
    try {
      bmm = new WebAssembly.Instance(compiled, { env: { memory } }).exports.bmm as Bmm;
    } catch {
      // e.g. a threaded build whose shared memory does not match the import.
      return null;
    }
    instances.set(memory, bmm);
  }
  return bmm;
}

function install(): boolean {
  const backend = tf.findBackend('wasm') as unknown as WasmBackendInternals | null;
  if (!backend || !kernelFor(backend)) return false;
  if (!registered) {
    tf.registerKernel({
      kernelName: WASM_BATCH_MATMUL_KERNEL,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend: b }) => {
        const be = b as unknown as WasmBackendInternals;
        const { a, b: rhs } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
        const [batch, m, k] = a.shape as [number, number, number];
        const n = rhs.shape[2]!;
        const out = be.makeOutput([batch, m, n], 'float32');
        // Offsets are read after makeOutput: allocating may grow the heap.
        const offset = (t: tf.TensorInfo) => be.dataIdMap.get(t.dataId)!.memoryOffset;
        kernelFor(be)!(offset(a), offset(rhs), offset(out), batch, m, k, n);
        return out;
      },
    });
    registered = true;
  }
  return true;
}

/** Exposed for tests and benchmarks: whether the SIMD kernel serves the current backend. */
export function wasmBatchMatMulActive(): boolean {
  return tf.getBackend() === 'wasm' && install();
}

/**
 * a [batch, m, k] · b [batch, k, n] → [batch, m, n], float32, no gradient of its
 * own (callers wrap it in tf.customGrad). On wasm it runs the SIMD kernel above;
 * on other backends it is tf.matMul.
 */
export function rawBatchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (a.dtype === 'float32' && b.dtype === 'float32' && a.size > 0 && b.size > 0 && wasmBatchMatMulActive()) {
    return tf.engine().runKernel(WASM_BATCH_MATMUL_KERNEL, { a, b } as unknown as tf.NamedTensorMap, {}) as tf.Tensor3D;
  }
  return tf.matMul(a, b);
}
