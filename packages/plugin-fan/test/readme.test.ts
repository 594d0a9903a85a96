import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createModelFromSpec, setBackend, tf, torchStateDict, use } from '@tessera/core';
import { saveSafetensors } from '@tessera/core/node';
import { fanModels, fanPlugin } from '../src/index.js';

// Every ```ts block of the README runs as written, with the package imports pointed at the sources.
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const dir = mkdtempSync(join(tmpdir(), 'fan-readme-'));
const written: string[] = [];

beforeAll(async () => {
  await setBackend('wasm');
  use(fanPlugin);
});
afterAll(() => {
  written.forEach((f) => rmSync(f, { force: true }));
  rmSync(dir, { recursive: true, force: true });
});

describe('README examples', () => {
  it('has the usage and the checkpoint examples', () => expect(blocks.length).toBe(2));

  it('usage runs as written', async () => {
    const file = fileURLToPath(new URL('./.readme-example-0.ts', import.meta.url));
    writeFileSync(file, blocks[0]!.replaceAll("from '@tessera/plugin-fan'", "from '../src/index.js'"));
    written.push(file);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    await import(file);
    const printed = log.mock.calls.map((c) => c.map(String).join(' ')).join('\n');
    log.mockRestore();
    expect(printed).toBe('2,10 2,10 true');
  });

  it('the checkpoint example loads an official-format state dict (fused class-attention qkv) by name', async () => {
    // Stand-in for a converted official checkpoint: a seeded model's state in PyTorch names and layouts, qkv fused.
    const checkpointPath = join(dir, 'fan_tiny_12_p16_224.safetensors');
    const official = createModelFromSpec(fanModels.fan_tiny_12_p16_224!.spec!({ seed: 5 }));
    const state = torchStateDict(official);
    for (const i of [0, 1]) {
      const p = `cls_attn_blocks.${i}.attn`;
      for (const kind of ['weight', 'bias']) {
        state[`${p}.qkv.${kind}`] = tf.concat(['q', 'k', 'v'].map((n) => state[`${p}.${n}.${kind}`]!), 0);
        for (const n of ['q', 'k', 'v']) delete state[`${p}.${n}.${kind}`];
      }
    }
    await saveSafetensors(checkpointPath, state);
    official.dispose();
    const file = fileURLToPath(new URL('./.readme-example-1.ts', import.meta.url));
    writeFileSync(
      file,
      `const checkpointPath = ${JSON.stringify(checkpointPath)};\n${blocks[1]!.replaceAll("from '@tessera/plugin-fan'", "from '../src/index.js'")}\nexport { pretrained };\n`,
    );
    written.push(file);
    const { pretrained } = await import(file);
    expect(pretrained.numParameters()).toBe(7_319_920);
    pretrained.dispose();
  });
});
