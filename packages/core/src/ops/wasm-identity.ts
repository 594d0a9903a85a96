import { tf } from '../tensor/tf.js';

/*
 * tfjs's engine keeps every tensor a gradient needs as a clone (engine.js,
 * saveTensorsForBackwardMode: keep(clone(t))), and a clone is the Identity kernel. On
 * the cpu and webgl backends Identity shares the data buffer under a reference count
 * (tensors are immutable; Reshape does the same on every backend), but tfjs-wasm's
 * copies it: in a DeiT-Tiny-sized training step that was ~380 copies, 3-4 % of kernel
 * time, and as much memory as the activations saved for the backward pass. This
 * replaces the wasm Identity with the sharing one. Nothing in tfjs-wasm or core writes
 * into an existing tensor's buffer (every kernel writes outputs it allocates), which is
 * what makes sharing safe; string tensors keep the original kernel.
 */

interface RefCountingBackend {
  incRef(dataId: object): void;
}

let original: tf.KernelConfig | undefined;

function sharingIdentity(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo | tf.TensorInfo[] {
  const x = (args.inputs as { x: tf.TensorInfo }).x;
  if (x.dtype === 'string') return original!.kernelFunc(args) as tf.TensorInfo;
  (args.backend as unknown as RefCountingBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Makes tf.clone on the wasm backend share the buffer, as on cpu and webgl (idempotent; false where wasm has no such kernel to replace). */
export function shareWasmIdentity(): boolean {
  if (original) return true;
  const kernel = tf.getKernel('Identity', 'wasm');
  const backend = tf.findBackend('wasm') as unknown as Partial<RefCountingBackend> | null;
  if (!kernel || !backend || typeof backend.incRef !== 'function') return false;
  original = kernel;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({ kernelName: 'Identity', backendName: 'wasm', kernelFunc: sharingIdentity as tf.KernelFunc, ...(kernel.setupFunc ? { setupFunc: kernel.setupFunc } : {}) });
  return true;
}
