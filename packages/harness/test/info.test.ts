import { createModel, setBackend, tf } from '@tessera/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { countMacs, kernelMacs } from '../src/macs.js';
import { tessera, TINY_SPEC } from './helpers.js';

describe('tessera info', () => {
  beforeAll(async () => {
    await setBackend('wasm');
  });

  test('info --json of DeiT-Tiny: PyTorch parameter count, ~1.26 GMACs, stages with layout and shape', () => {
    const r = tessera(['info', 'deit_tiny_patch16_224', '--json', '--backend', 'wasm']);
    expect(r.status, r.stderr).toBe(0);
    const info = r.json<{ name: string; params: number; macs: number; outputShape: number[]; stages: Array<{ name: string; layout: string; shape: number[] }> }>();
    expect(info.name).toBe('deit_tiny_patch16_224');
    expect(info.params).toBe(5717416);
    // fvcore counts 1.26 G for DeiT-Tiny (matmuls only): 12·(24·N·d² + 4·N²·d)/2 + patch and head, N = 197, d = 192.
    const n = 197;
    const d = 192;
    const expected = 12 * (12 * n * d * d + 2 * n * n * d) + 196 * 768 * d + d * 1000;
    expect(info.macs).toBe(expected);
    expect(info.macs / 1e9).toBeCloseTo(1.254, 3);
    expect(info.outputShape).toEqual([1, 1000]);
    expect(info.stages[0]).toMatchObject({ layout: 'image', shape: [-1, 224, 224, 3] });
    expect(info.stages.some((s) => s.layout === 'tokens' && s.shape[1] === 197 && s.shape[2] === 192)).toBe(true);
    expect(info.stages[info.stages.length - 1]).toMatchObject({ layout: 'vector', shape: [-1, 1000] });
  });

  test('info of a spec file at another size prints a readable table', () => {
    const r = tessera(['info', TINY_SPEC, '--img-size', '32', '--backend', 'wasm']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('tiny_vit');
    expect(r.stdout).toMatch(/parameters\s+[\d,]+/);
    expect(r.stdout).toContain('[B, 65, 16]');
  });

  test('kernel MACs follow from shapes whatever the transpose flags', () => {
    expect(kernelMacs('BatchMatMul', [[2, 3, 4], [2, 4, 5]], [2, 3, 5])).toBe(2 * 3 * 4 * 5);
    expect(kernelMacs('BatchMatMul', [[2, 4, 3], [2, 4, 5]], [2, 3, 5])).toBe(2 * 3 * 4 * 5);
    expect(kernelMacs('Conv2D', [[1, 8, 8, 3], [3, 3, 3, 16]], [1, 6, 6, 16])).toBe(36 * 16 * 27);
    expect(kernelMacs('DepthwiseConv2dNative', [[1, 8, 8, 4], [3, 3, 4, 1]], [1, 6, 6, 4])).toBe(36 * 4 * 9);
    expect(kernelMacs('Add', [[2], [2]], [2])).toBe(0);
    // Core's SIMD attention kernel on wasm is counted like the BatchMatMul it replaces.
    expect(kernelMacs('TesseraBatchMatMul', [[6, 65, 64], [6, 64, 65]], [6, 65, 65])).toBe(6 * 65 * 64 * 65);
    expect(kernelMacs('FusedDepthwiseConv2D', [[1, 8, 8, 4], [3, 3, 4, 1]], [1, 6, 6, 4])).toBe(36 * 4 * 9);
  });

  test('counting MACs frees every tensor it makes', async () => {
    const model = createModel('deit_tiny_patch16_224', { imgSize: 32, patchSize: 8, numClasses: 10 });
    const before = tf.memory().numTensors;
    await countMacs(model);
    await countMacs(model);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
