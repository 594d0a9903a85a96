import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setBackend, tf } from '@tessera/core';
import { saveSafetensors } from '@tessera/core/node';
import { beforeAll, describe, expect, test } from 'vitest';
import { cli } from './cli-inprocess.js';
import { tempDir, TINY_SPEC } from './helpers.js';

// Issue 9, items 1, 2, 3, 8, 9, 10 and 11: a run is never lost, a user's file never deleted,
// a plugin model trains by name, and every failure is early, clear and machine-readable.

const TINY = ['--model', TINY_SPEC, '--data', 'synthetic', '--train-size', '32', '--test-size', '16', '--img-size', '16', '--batch-size', '16', '--eval-batch-size', '16', '--backend', 'wasm', '--quiet'];
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

beforeAll(async () => {
  await setBackend('wasm');
});

describe('1. plugin models by name', () => {
  test('train resolves --model after loading the plugins: t2t_vit_7 is accepted', async () => {
    const r = await cli(['train', '--model', 't2t_vit_7', '--img-size', '32', '--train-size', '16', '--test-size', '16', '--batch-size', '8', '--backend', 'wasm', '--out', join(tempDir('t2t'), 'run'), '--dry-run', '--json']);
    expect(r.code, r.err).toBe(0);
    expect(r.json()).toMatchObject({ ok: true, model: 't2t_vit_7' });
  });

  test('an unknown name suggests the closest, ignoring case, and points to `tessera models`', async () => {
    const r = await cli(['train', '--model', 'T2T_ViT_7x', '--json']);
    expect(r.code).toBe(1);
    expect(r.json<{ error: string }>().error).toMatch(/unknown model 'T2T_ViT_7x'\. Did you mean 't2t_vit_7'.*`tessera models`/);
    expect(r.err).not.toMatch(/listModels\(\)/);
  });
});

describe('2. a diverging step never replaces the last good checkpoint', () => {
  test('--lr 1e30 --steps 1 stops with exit 3 instead of reporting "loss NaN" with exit 0', async () => {
    const out = join(tempDir('lr'), 'run');
    const r = await cli(['train', ...TINY, '--lr', '1e30', '--warmup-epochs', '0', '--steps', '1', '--out', out, '--json']);
    expect(r.code, r.err).toBe(3);
    expect(r.json<{ error: string }>().error).toMatch(/diverged at step 1/);
    expect(existsSync(join(out, 'checkpoint.json'))).toBe(false);
  });

  test('when the epoch ends on the diverging step, the previous checkpoint survives untouched', async () => {
    const out = join(tempDir('diverge'), 'run');
    // 32 examples / batch 16 = 2 steps an epoch: stop after step 3, then resume into step 4, the end of epoch 2.
    const first = await cli(['train', ...TINY, '--epochs', '2', '--steps', '3', '--out', out, '--json']);
    expect(first.code, first.err).toBe(0);
    const saved = JSON.parse(readFileSync(join(out, 'checkpoint.json'), 'utf8'));
    expect(saved.step).toBe(3);
    const hashes = Object.values(saved.files as Record<string, string>).map((f) => sha(join(out, f)));
    const r = await cli(['train', '--resume', out, '--lr', '1e30', '--warmup-epochs', '0', '--json']);
    expect(r.code, r.err).toBe(3);
    expect(r.json<{ error: string; lastCheckpointStep: number }>()).toMatchObject({ lastCheckpointStep: 3 });
    const after = JSON.parse(readFileSync(join(out, 'checkpoint.json'), 'utf8'));
    expect(after.step).toBe(3);
    expect(Object.values(after.files as Record<string, string>).map((f) => sha(join(out, f)))).toEqual(hashes);
  });
});

describe('3. never delete what the run did not write', () => {
  test("a folder holding a user's files is refused before any data or model, and nothing in it is touched", async () => {
    const out = tempDir('user');
    mkdirSync(join(out, 'checkpoints'));
    writeFileSync(join(out, 'checkpoints', 'my-model.pt'), 'precious');
    writeFileSync(join(out, 'config.json'), '{"mine": true}');
    const r = await cli(['train', ...TINY, '--steps', '1', '--out', out, '--json']);
    expect(r.code).toBe(1);
    expect(r.json<{ error: string }>().error).toMatch(/is not empty and is not a Tessera run .*--overwrite/);
    expect(readdirSync(out).sort()).toEqual(['checkpoints', 'config.json']);
    expect(readFileSync(join(out, 'config.json'), 'utf8')).toBe('{"mine": true}');
  });

  test('--overwrite writes the run beside the user file but deletes only files the run wrote', async () => {
    const out = tempDir('overwrite');
    mkdirSync(join(out, 'checkpoints'));
    writeFileSync(join(out, 'checkpoints', 'my-model.pt'), 'precious');
    const r = await cli(['train', ...TINY, '--epochs', '2', '--out', out, '--overwrite', '--json']);
    expect(r.code, r.err).toBe(0);
    expect(readFileSync(join(out, 'checkpoints', 'my-model.pt'), 'utf8')).toBe('precious');
    expect(readdirSync(join(out, 'checkpoints')).sort()).toEqual(['my-model.pt', 'step-00000004.model.safetensors', 'step-00000004.optimizer.safetensors']);
  });

  test('another run (finished or not) is refused unless --overwrite; --out "" and --out <file> are refused early', async () => {
    const out = join(tempDir('again'), 'run');
    expect((await cli(['train', ...TINY, '--steps', '1', '--out', out, '--json'])).code).toBe(0);
    const again = await cli(['train', ...TINY, '--steps', '1', '--out', out, '--json']);
    expect(again.code).toBe(1);
    expect(again.json<{ error: string }>().error).toMatch(/already holds a Tessera run .*--resume/);
    const empty = await cli(['train', ...TINY, '--out', '', '--json']);
    expect(empty.json<{ error: string }>().error).toMatch(/--out = "" is not accepted/);
    const file = join(tempDir('file'), 'f');
    writeFileSync(file, 'x');
    const onFile = await cli(['train', ...TINY, '--out', file, '--json']);
    expect(onFile.json<{ error: string }>().error).toMatch(/--out = .* is not accepted: expected a folder, but .* is a file/);
  });

  test('--out /proc/x is refused instead of hanging (recursive mkdir loops under /proc)', async () => {
    const r = await cli(['train', ...TINY, '--out', '/proc/tessera-x/y', '--json']);
    expect(r.code).toBe(1);
    expect(r.json<{ error: string }>().error).toMatch(/--out = "\/proc\/tessera-x\/y" is not accepted: expected a folder that can be created/);
  }, 20_000);
});

describe('8. eval never reports garbage as a result', () => {
  const weightsOf = async (out: string) => {
    const r = await cli(['train', ...TINY, '--steps', '1', '--out', out, '--json']);
    expect(r.code, r.err).toBe(0);
    const checkpoint = JSON.parse(readFileSync(join(out, 'checkpoint.json'), 'utf8'));
    return join(out, checkpoint.files.model as string);
  };

  test('a NaN weight or an int32 tensor is refused at load, naming the file and the tensor', async () => {
    const out = join(tempDir('eval'), 'run');
    const file = await weightsOf(out);
    const { loadSafetensors } = await import('@tessera/core/node');
    const { tensors } = await loadSafetensors(file);
    const nanFile = join(out, 'nan.safetensors');
    const key = Object.keys(tensors).find((k) => k.endsWith('.bias'))!;
    const poisoned = { ...tensors, [key]: tf.fill(tensors[key]!.shape, Number.NaN) };
    await saveSafetensors(nanFile, poisoned);
    const nan = await cli(['eval', '--checkpoint', nanFile, '--model', TINY_SPEC, '--img-size', '16', '--test-size', '16', '--backend', 'wasm', '--json']);
    expect(nan.code).not.toBe(0);
    expect(nan.json<{ error: string }>().error).toContain(`nan.safetensors: tensor '${key}' holds NaN or infinite values`);

    // An I32 tensor: written by hand, since saveSafetensors writes F32.
    const { decodeSafetensors, encodeSafetensors } = await import('@tessera/core');
    const bytes = encodeSafetensors(tensors);
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    header[key].dtype = 'I32';
    const json = new TextEncoder().encode(JSON.stringify(header));
    const intBytes = new Uint8Array(8 + json.length + bytes.length - 8 - headerLength);
    new DataView(intBytes.buffer).setBigUint64(0, BigInt(json.length), true);
    intBytes.set(json, 8);
    intBytes.set(bytes.subarray(8 + headerLength), 8 + json.length);
    tf.dispose(Object.values(decodeSafetensors(intBytes).tensors));
    const intFile = join(out, 'int.safetensors');
    writeFileSync(intFile, intBytes);
    const int = await cli(['eval', '--checkpoint', intFile, '--model', TINY_SPEC, '--img-size', '16', '--test-size', '16', '--backend', 'wasm', '--json']);
    expect(int.code).toBe(1);
    expect(int.json<{ error: string }>().error).toMatch(/int\.safetensors: /);
    expect(int.json<{ error: string }>().error).toContain(`${key}: dtype int32 cannot load into a float32 parameter`);
    tf.dispose([...Object.values(tensors), poisoned[key]!]);
  });

  test('finite weights whose evaluation loss is not finite exit 3 instead of printing "loss NaN"', async () => {
    const out = join(tempDir('evalnan'), 'run');
    const file = await weightsOf(out);
    const { loadSafetensors } = await import('@tessera/core/node');
    const { tensors } = await loadSafetensors(file);
    const key = Object.keys(tensors).find((k) => k.endsWith('.weight') && tensors[k]!.shape.length === 2 && k.includes('head'))!;
    const huge = tf.fill(tensors[key]!.shape, 3e38); // finite, but the logits overflow to ±Infinity
    const hugeFile = join(out, 'huge.safetensors');
    await saveSafetensors(hugeFile, { ...tensors, [key]: huge });
    const r = await cli(['eval', '--checkpoint', hugeFile, '--model', TINY_SPEC, '--img-size', '16', '--test-size', '16', '--backend', 'wasm', '--json']);
    expect(r.code, r.err).toBe(3);
    expect(r.json<{ error: string }>().error).toMatch(/gave a loss of (NaN|Infinity).*not a result/);
    tf.dispose([...Object.values(tensors), huge]);
  });

  test('train --teacher /nonexistent blames --teacher before the run folder, the data or a model exist', async () => {
    const out = join(tempDir('no-teacher'), 'run');
    const r = await cli(['train', ...TINY, '--steps', '1', '--teacher', '/nonexistent/teacher', '--out', out, '--json']);
    expect(r.code).toBe(1);
    expect(r.json<{ error: string }>().error).toMatch(/^--teacher \/nonexistent\/teacher: no checkpoint there/);
    expect(existsSync(out)).toBe(false);
  });

  test('eval --checkpoint /nonexistent blames --checkpoint, not --model', async () => {
    const r = await cli(['eval', '--checkpoint', '/nonexistent/run', '--json']);
    expect(r.code).toBe(1);
    expect(r.json<{ error: string }>().error).toMatch(/^--checkpoint = "\/nonexistent\/run" is not accepted/);
  });
});

describe('9. resume says what it does', () => {
  const run = async (name: string) => {
    const out = join(tempDir(name), 'run');
    const r = await cli(['train', ...TINY, '--epochs', '2', '--steps', '1', '--out', out, '--json']);
    expect(r.code, r.err).toBe(0);
    return out;
  };

  test('flags that conflict with the saved run are refused, naming each', async () => {
    const out = await run('conflict');
    const r = await cli(['train', '--resume', out, '--batch-size', '8', '--img-size', '32', '--data', 'synthetic', '--json']);
    expect(r.code).toBe(1);
    const { error } = r.json<{ error: string }>();
    expect(error).toMatch(/--batch-size 8 \(the run has 16\)/);
    expect(error).toMatch(/--img-size 32 \(the run has 16\)/);
    expect(error).not.toMatch(/--data/); // same as saved: fine
  });

  test('a torn last line of metrics.jsonl is dropped with a warning naming the file, shown even with --quiet', async () => {
    const out = await run('torn');
    writeFileSync(join(out, 'metrics.jsonl'), `${readFileSync(join(out, 'metrics.jsonl'), 'utf8')}{"type":"train","ep`);
    const r = await cli(['train', '--resume', out, '--steps', '2', '--quiet', '--json']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/metrics\.jsonl: the last line \(\d+\) is torn or damaged .*dropping it/);
  });

  test('checkpoint.json is validated: a string or negative step, missing fields and paths outside the run are refused', async () => {
    const out = await run('schema');
    const path = join(out, 'checkpoint.json');
    const good = JSON.parse(readFileSync(path, 'utf8'));
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...good, step: '81' }, /step: .*expected number/i],
      [{ ...good, step: -5 }, /step: .*>=0/i],
      [(({ rng: _r, ...rest }) => rest)(good), /rng: .*expected object/i],
      [{ ...good, files: { ...good.files, model: '../../../etc/passwd' } }, /files\.model: must be a path inside the run folder/],
      [{ ...good, config: { ...good.config, lr: -1 } }, /config\.lr/],
    ];
    for (const [state, message] of cases) {
      writeFileSync(path, JSON.stringify(state));
      const r = await cli(['train', '--resume', out, '--json']);
      expect(r.code).toBe(1);
      expect(r.json<{ error: string }>().error).toMatch(new RegExp(`checkpoint\\.json is damaged or was edited: .*${message.source}`, 'i'));
    }
  });
});

describe('10 and 11. machine-readable failures, smaller things', () => {
  test('with --json a flag error ends stdout with one {"error": …} line', async () => {
    const r = await cli(['train', '--model', TINY_SPEC, '--epochs', 'ten', '--json']);
    expect(r.code).toBe(1);
    expect(r.json<{ error: string }>().error).toMatch(/--epochs <n>' argument 'ten' is invalid/);
  });

  test("--augment none,mixup says that 'none' cannot be combined; --min-lr above --lr is refused", async () => {
    const none = await cli(['train', ...TINY, '--augment', 'none,mixup', '--json']);
    expect(none.json<{ error: string }>().error).toMatch(/'none' cannot be combined with others/);
    const minLr = await cli(['train', ...TINY, '--lr', '0.001', '--min-lr', '0.01', '--out', join(tempDir('minlr'), 'run'), '--json']);
    expect(minLr.code).toBe(1);
    expect(minLr.json<{ error: string }>().error).toMatch(/--min-lr = 0\.01 is not accepted: expected a rate <= --lr \(0\.001\)/);
  });
});

describe('demo', () => {
  test('replaces its own previous run, but not a folder holding something else', async () => {
    const out = join(tempDir('demo-again'), 'demo');
    const args = ['demo', '--out', out, '--steps', '1', '--train-size', '32', '--test-size', '16', '--quiet', '--json'];
    expect((await cli(args)).code).toBe(0);
    const again = await cli(args);
    expect(again.code, again.err).toBe(0);
    const other = tempDir('demo-other');
    writeFileSync(join(other, 'notes.txt'), 'mine');
    const refused = await cli(['demo', '--out', other, '--steps', '1', '--quiet', '--json']);
    expect(refused.code).toBe(1);
    expect(readFileSync(join(other, 'notes.txt'), 'utf8')).toBe('mine');
  });
});
