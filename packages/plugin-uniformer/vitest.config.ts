import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // tfjs keeps its backend and kernel registries in module state: one process per test file.
    pool: 'forks',
    // One temporary root per run, removed at its end (test-utils/src/temp-root.ts).
    globalSetup: ['../test-utils/src/temp-root.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
