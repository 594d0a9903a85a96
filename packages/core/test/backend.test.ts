import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, getBackend, setBackend, tf, webgpuAdapterDescription } from '../src/index.js';

describe('backends', () => {
  it('auto picks the fastest installed backend (wasm here, where tfjs-node is not installed)', async () => {
    expect(await setBackend('auto')).toBe('wasm');
    expect(getBackend()).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('switches to cpu and back', async () => {
    expect(await setBackend('cpu')).toBe('cpu');
    expect(getBackend()).toBe('cpu');
    expect(tf.add(tf.scalar(1), tf.scalar(2)).dataSync()[0]).toBe(3);
    await setBackend('wasm');
  });

  it('a missing optional backend fails at once, naming the package to install', async () => {
    await expect(setBackend('tensorflow')).rejects.toThrow(BackendUnavailableError);
    await expect(setBackend('tensorflow')).rejects.toThrow(/needs the optional package @tensorflow\/tfjs-node.*npm install @tensorflow\/tfjs-node/);
    await expect(setBackend('tensorflow-gpu')).rejects.toThrow(/@tensorflow\/tfjs-node-gpu/);
    expect(getBackend()).toBe('wasm');
  });

  // The webgpu packages are dev dependencies here; the harness's train-webgpu test trains on them.
  it('webgpu starts on a Dawn adapter, or says why none exists', async () => {
    try {
      expect(await setBackend('webgpu')).toBe('webgpu');
      expect(webgpuAdapterDescription()).toMatch(/\S/);
      expect(Array.from(await tf.add(tf.scalar(1), tf.scalar(2)).data())).toEqual([3]);
    } catch (error) {
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect(String(error)).toMatch(/no WebGPU adapter|webgpu/);
    }
    await setBackend('wasm');
    expect(getBackend()).toBe('wasm');
  });

  it('an unknown backend name is refused with the accepted list', async () => {
    await expect(setBackend('gpu' as never)).rejects.toThrow(/backend = "gpu" is not accepted: expected one of auto, tensorflow-gpu, tensorflow, webgpu, wasm, cpu/);
  });
});
