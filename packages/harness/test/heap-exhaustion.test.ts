import { describe, expect, test } from 'vitest';
import { explainHeapExhaustion } from '../src/resources.js';

// A real exhaustion needs a model that fills 4 GiB (fan_swin_base_patch4_window7_224 at 224 px,
// batch 2: "memory access out of bounds" after 26 s at 4.3 GB); these are the errors it raises.
describe('a wasm heap that runs out mid-step is explained, not shown as a raw trap', () => {
  const wasm = () => 'wasm';

  test.each([
    new Error('RuntimeError: memory access out of bounds'),
    Object.assign(new Error('memory access out of bounds'), { name: 'RuntimeError' }),
    new Error('data-parallel worker 1: Aborted()'),
    new RangeError('Array buffer allocation failed'),
  ])('%s: says the heap ran out and what to change', (error) => {
    const message = explainHeapExhaustion(error, wasm);
    expect(message).toContain('ran out of its 4 GiB heap');
    expect(message).toContain(error.message);
    expect(message).toMatch(/--batch-size.*--img-size/);
    expect(message).toContain('--backend cpu');
  });

  test('other errors, and the same trap on another backend, keep their own message', () => {
    expect(explainHeapExhaustion(new TypeError('x is not a function'), wasm)).toBeUndefined();
    expect(explainHeapExhaustion('Aborted()', wasm)).toBeUndefined();
    expect(explainHeapExhaustion(new Error('memory access out of bounds'), () => 'cpu')).toBeUndefined();
  });

  test('the backend is not asked for an unrelated error (asking tfjs with none active would start one)', () => {
    let asked = 0;
    explainHeapExhaustion(new Error('unrelated'), () => (asked++, 'wasm'));
    expect(asked).toBe(0);
  });
});
