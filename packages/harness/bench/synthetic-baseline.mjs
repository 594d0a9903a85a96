// Bundles synthetic-baseline.ts with the esbuild that tsup ships, then runs it.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const { build } = await import(pathToFileURL(createRequire(require.resolve('tsup')).resolve('esbuild')).href);
const here = fileURLToPath(new URL('.', import.meta.url));
// Inside node_modules so the bundle resolves @tessera/core like the sources do.
const outfile = join(here, '..', 'node_modules', '.cache', 'tessera-bench', 'synthetic-baseline.mjs');
await build({ entryPoints: [join(here, 'synthetic-baseline.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile, logLevel: 'warning' });
await import(pathToFileURL(outfile).href);
