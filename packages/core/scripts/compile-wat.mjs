// Compiles core's WebAssembly text kernels (src/ops/kernels/*.wat) with wabt and
// embeds the bytes in a generated TypeScript module next to each source, so the
// published package needs no toolchain and no file read at run time.
//   node scripts/compile-wat.mjs           write the generated modules
//   node scripts/compile-wat.mjs --check   exit 1 when a generated module is stale
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileWat, generatedModuleFor } from './wat.mjs';

const kernels = fileURLToPath(new URL('../src/ops/kernels/', import.meta.url));
const check = process.argv.includes('--check');
let stale = 0;
for (const file of readdirSync(kernels).filter((f) => f.endsWith('.wat')).sort()) {
  const source = readFileSync(join(kernels, file), 'utf8');
  const target = join(kernels, file.replace(/\.wat$/, '.wasm.ts'));
  const expected = generatedModuleFor(file, await compileWat(file, source));
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // missing: counts as stale
  }
  if (current === expected) continue;
  if (check) {
    console.error(`${target} is stale: run \`node scripts/compile-wat.mjs\` in packages/core`);
    stale++;
  } else {
    writeFileSync(target, expected);
    console.error(`compiled ${file} → ${target}`);
  }
}
process.exit(stale === 0 ? 0 : 1);
