import { createModel, resamplePatchEmbed, setBackend, tf } from '@tessera/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadPlugins } from '../src/plugins.js';
import { initStudentFromTeacher } from '../src/train/teacher.js';

beforeAll(async () => {
  await setBackend('cpu');
  // The installed @tessera/plugin-* packages, found as the CLI finds them (the harness never imports a plugin).
  await loadPlugins([]);
});

const param = (model: ReturnType<typeof createModel>, key: string) => model.namedParameters().find(([k]) => k === key)![1].variable;

describe('student initialised from the teacher', () => {
  test("PI-resizes the patch kernel and resamples the position table into the student's stored sizes (named model filter)", () => {
    const teacher = createModel('flexivit_small', { imgSize: 32, patchSize: 8, numClasses: 4, seed: 1 });
    const student = createModel('flexivit_small', { imgSize: 32, patchSize: 16, numClasses: 4, seed: 2 });
    const { loaded, skipped } = initStudentFromTeacher(student, teacher);
    expect(skipped).toEqual([]);
    expect(loaded).toContain('patch_embed.proj.weight');
    expect(loaded).toContain('pos_embed');
    const expected = resamplePatchEmbed(param(teacher, 'patch_embed.proj.weight'), 16);
    const got = param(student, 'patch_embed.proj.weight');
    expect(got.shape).toEqual([16, 16, 3, 384]);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(got, expected))).dataSync()[0]!);
    expect(diff).toBeLessThan(1e-6);
    expect(param(student, 'pos_embed').shape).toEqual([1, 4, 384]);
    // Everything else is the teacher's, value for value.
    expect(param(student, 'blocks.3.attn.qkv.weight').dataSync()).toEqual(param(teacher, 'blocks.3.attn.qkv.weight').dataSync());
    tf.dispose(expected);
    teacher.dispose();
    student.dispose();
  });
});
