import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { getBackend, tf } from '@tessera/core';
import { registeredPlugins } from './plugins.js';

const require = createRequire(import.meta.url);

function packageVersion(name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

export const HARNESS_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** What produced a run: backend, package and runtime versions, for the report and the JSON result. */
export function describeEnvironment(): { backend: string; node: string; platform: string; packages: Record<string, string> } {
  const packages: Record<string, string> = { '@tessera/harness': HARNESS_VERSION };
  for (const p of registeredPlugins()) packages[p.name] = p.version;
  packages['@tensorflow/tfjs-core'] = tf.version_core;
  const vega = packageVersion('vega');
  if (vega) packages.vega = vega;
  return { backend: getBackend(), node: process.version, platform: `${process.platform}-${process.arch}`, packages };
}
