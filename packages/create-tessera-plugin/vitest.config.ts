import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // tfjs keeps its backend and kernel registries in module state: one process per test file.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
