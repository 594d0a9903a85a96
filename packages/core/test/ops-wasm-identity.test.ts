import { beforeAll, describe, expect, it } from 'vitest';
import { gelu, setBackend, tf } from '../src/index.js';
import { shareWasmIdentity } from '../src/ops/wasm-identity.js';

/*
 * tf.clone on wasm shares the buffer under a reference count once core's kernels attach
 * (src/ops/wasm-identity.ts), as tfjs's cpu and webgl backends do: what must hold is that
 * a clone is indistinguishable from a copy (values, independence from the original's
 * disposal and from variable assignment) and that shared buffers are freed exactly once.
 */
describe('Identity on wasm', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    tf.dispose(gelu(tf.ones([4]))); // attaches core's kernels
  });

  it('a clone shares the buffer: no new data buffer, same values', () => {
    expect(shareWasmIdentity()).toBe(true);
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const before = tf.memory();
    const c = tf.clone(x);
    expect(tf.memory().numTensors).toBe(before.numTensors + 1);
    expect(tf.memory().numDataBuffers).toBe(before.numDataBuffers);
    expect(Array.from(c.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    tf.dispose([x, c]);
  });

  it('a clone outlives its original, and the buffer is freed with the last of them', () => {
    const before = tf.memory().numDataBuffers;
    const x = tf.tensor1d([7, 8, 9]);
    const c = tf.clone(x);
    x.dispose();
    expect(tf.memory().numDataBuffers).toBe(before + 1);
    expect(Array.from(c.dataSync())).toEqual([7, 8, 9]);
    c.dispose();
    expect(tf.memory().numDataBuffers).toBe(before);
  });

  it('a clone of a variable keeps its values when the variable is assigned', () => {
    const v = tf.variable(tf.tensor1d([1, 2]));
    const c = tf.clone(v);
    v.assign(tf.tensor1d([3, 4]));
    expect(Array.from(c.dataSync())).toEqual([1, 2]);
    expect(Array.from(v.dataSync())).toEqual([3, 4]);
    tf.dispose([v, c]);
  });

  it('string tensors keep the original kernel and clone as before', () => {
    const s = tf.tensor1d(['a', 'b'], 'string');
    const c = tf.clone(s);
    s.dispose();
    expect(c.dataSync()).toEqual(['a', 'b']);
    c.dispose();
  });
});
