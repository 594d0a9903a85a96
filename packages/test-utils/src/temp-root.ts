import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Vitest global setup: every test run gets its own temporary root, and it is removed
 * when the run ends, whatever the tests left in it. Tests (and the CLI processes they
 * spawn, which inherit the environment) create their temporary folders with
 * `os.tmpdir()`, so pointing TMPDIR here contains them all; a killed or failing test
 * no longer leaves run folders and checkpoints behind in the system's /tmp.
 */
export default function setup(): () => void {
  const previous = process.env.TMPDIR;
  const root = mkdtempSync(join(tmpdir(), 'tessera-test-'));
  process.env.TMPDIR = root;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(root, { recursive: true, force: true });
  };
}
