import { StateDictError } from '../errors.js';
import type { LoadStateDictOptions, LoadStateDictResult, Module, TorchLayout } from '../nn/module.js';
import { tf } from '../tensor/tf.js';

/*
 * The one place where PyTorch's tensor layouts meet ours. PyTorch stores linear
 * weights [out, in] and convolution kernels OIHW [out, in/groups, kh, kw]; Tessera
 * computes with [in, out] and HWIO [kh, kw, in/groups, out].
 */

export function fromTorchLayout(t: tf.Tensor, layout: TorchLayout): tf.Tensor {
  switch (layout) {
    case 'same':
      return t.clone();
    case 'linear':
      return tf.transpose(t, [1, 0]);
    case 'conv2d':
      return tf.transpose(t, [2, 3, 1, 0]);
    case 'conv1x1':
      return tf.tidy(() => tf.transpose(tf.reshape(t, [t.shape[0]!, t.shape[1]!]), [1, 0]));
  }
}

export function toTorchLayout(t: tf.Tensor, layout: TorchLayout): tf.Tensor {
  switch (layout) {
    case 'same':
      return t.clone();
    case 'linear':
      return tf.transpose(t, [1, 0]);
    case 'conv2d':
      return tf.transpose(t, [3, 2, 0, 1]);
    case 'conv1x1':
      return tf.tidy(() => tf.reshape(tf.transpose(t, [1, 0]), [t.shape[1]!, t.shape[0]!, 1, 1]));
  }
}

const RANK: Record<TorchLayout, number | undefined> = { same: undefined, linear: 2, conv2d: 4, conv1x1: 4 };

/**
 * Loads a state dict saved by PyTorch (for example an official checkpoint converted
 * to safetensors) into `module`, transposing linear and convolution weights by the
 * layout each parameter declares. Keys, ranks and shapes are all checked before
 * anything is written.
 */
export function loadTorchStateDict(module: Module, state: Record<string, tf.Tensor>, options: LoadStateDictOptions = {}): LoadStateDictResult {
  const layouts = module.stateDictLayouts();
  const wrongRank: string[] = [];
  for (const [key, t] of Object.entries(state)) {
    const layout = layouts[key] ?? 'same';
    const rank = RANK[layout];
    if (rank !== undefined && t.rank !== rank) wrongRank.push(`${key}: PyTorch tensor of shape [${t.shape.join(', ')}] should have rank ${rank}`);
    else if (layout === 'conv1x1' && (t.shape[2] !== 1 || t.shape[3] !== 1)) {
      wrongRank.push(`${key}: PyTorch tensor of shape [${t.shape.join(', ')}] should be a 1x1 kernel [out, in, 1, 1]`);
    }
  }
  if (wrongRank.length) throw new StateDictError(`cannot load PyTorch state dict into ${module.constructor.name}:\n  ${wrongRank.join('\n  ')}`);
  const converted: Record<string, tf.Tensor> = {};
  try {
    for (const [key, t] of Object.entries(state)) converted[key] = fromTorchLayout(t, layouts[key] ?? 'same');
    return module.loadStateDict(converted, options);
  } finally {
    tf.dispose(Object.values(converted));
  }
}

/** The module's state dict in PyTorch's layouts and names (fresh tensors: dispose them). */
export function torchStateDict(module: Module): Record<string, tf.Tensor> {
  const layouts = module.stateDictLayouts();
  const out: Record<string, tf.Tensor> = {};
  for (const [key, t] of Object.entries(module.stateDict())) out[key] = toTorchLayout(t, layouts[key] ?? 'same');
  return out;
}
