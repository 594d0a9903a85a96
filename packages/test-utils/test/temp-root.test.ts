import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { expect, test } from 'vitest';
import setup from '../src/temp-root.js';

test('test processes get a per-run temporary root (global setup), so what tests leave is removed with it', () => {
  expect(basename(tmpdir())).toMatch(/^tessera-test-/);
  const made = mkdtempSync(join(tmpdir(), 'x-'));
  expect(dirname(made)).toBe(tmpdir());
});

test('the teardown removes the root with everything in it and restores TMPDIR', () => {
  const before = process.env.TMPDIR;
  const teardown = setup();
  const root = process.env.TMPDIR!;
  expect(root).not.toBe(before);
  mkdtempSync(join(root, 'left-behind-'));
  teardown();
  expect(existsSync(root)).toBe(false);
  expect(process.env.TMPDIR).toBe(before);
});
