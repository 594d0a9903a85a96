import { builtinModules } from 'node:module';
import { build, type Message } from 'esbuild';

const NODE_BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/**
 * What stops `entry` from bundling for the browser (esbuild, platform 'browser'): every unresolved import, each as
 * "message (file)", Node built-ins first. Empty when the entry is browser-safe. tfjs's Node-only imports are switched
 * off by its package.json `browser` field, which esbuild honours.
 */
export async function browserBundleProblems(entry: string): Promise<{ nodeBuiltins: string[]; unresolved: string[] }> {
  let errors: Message[] = [];
  try {
    await build({ entryPoints: [entry], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent' });
  } catch (error) {
    errors = (error as { errors?: Message[] }).errors ?? [];
    if (!errors.length) throw error;
  }
  const unresolved = errors.map((e) => `${e.text} (${e.location?.file})`);
  const nodeBuiltins = unresolved.filter((text) => [...NODE_BUILTINS].some((m) => text.includes(`"${m}"`)));
  return { nodeBuiltins, unresolved };
}
