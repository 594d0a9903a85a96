import type { PluginSuiteOptions } from '../src/index.js';
import { pluginSuite } from '../src/index.js';

export interface Collected {
  readonly name: string;
  readonly error: string | undefined;
}

/** Registers pluginSuite with a recording `test`, runs every registered test, and returns each outcome. */
export async function runSuite(options: Omit<PluginSuiteOptions, 'test'>): Promise<Collected[]> {
  const registered: Array<{ name: string; fn: () => void | Promise<void> }> = [];
  pluginSuite({ ...options, test: (name, fn) => registered.push({ name, fn }) });
  const out: Collected[] = [];
  for (const { name, fn } of registered) {
    try {
      await fn();
      out.push({ name, error: undefined });
    } catch (error) {
      out.push({ name, error: (error as Error).message });
    }
  }
  return out;
}
