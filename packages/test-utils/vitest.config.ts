import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    // One temporary root per run, removed at its end (src/temp-root.ts).
    globalSetup: ['./src/temp-root.ts'],
  },
});
