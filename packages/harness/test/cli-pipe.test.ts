import { spawn } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { CLI, PACKAGE_DIR } from './helpers.js';

describe('tessera writing into a pipe whose reader has gone', () => {
  test('`tessera models | head` ends quietly with status 0, not an unhandled EPIPE', async () => {
    const child = spawn(process.execPath, [CLI, 'models'], { cwd: PACKAGE_DIR, env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
    // The reader closes before the first line is written, so every write meets a closed pipe.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).not.toMatch(/EPIPE|Unhandled|at .*\.js:\d+/);
    expect(code).toBe(0);
  });
});
