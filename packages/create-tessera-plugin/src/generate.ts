import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import conformancePkg from '@tessera/conformance/package.json' with { type: 'json' };
import corePkg from '@tessera/core/package.json' with { type: 'json' };
import { pluginNames, type PluginNames } from './names.js';
import { pluginFiles, type TemplateVersions } from './templates.js';

/** The versions this generator was built with (read from the packages' own package.json at build time). */
export const TEMPLATE_VERSIONS: TemplateVersions = { core: corePkg.version, conformance: conformancePkg.version };

export interface GenerateOptions {
  /** Folder to create (default: ./<package name without scope>). It must not exist or be empty. */
  readonly dir?: string;
  readonly versions?: TemplateVersions;
}

export interface Generated {
  readonly dir: string;
  readonly names: PluginNames;
  readonly files: string[];
}

/** Writes a new plugin project: one block, one model, one augmentation, their tests, a README and changesets. */
export function generatePlugin(name: string, options: GenerateOptions = {}): Generated {
  const names = pluginNames(name);
  const dir = resolve(options.dir ?? names.packageName.replace(/^@[^/]+\//, ''));
  if (existsSync(dir) && readdirSync(dir).length) throw new Error(`${dir} exists and is not empty; choose another folder with --dir`);
  const files = pluginFiles(names, options.versions ?? TEMPLATE_VERSIONS);
  for (const [path, content] of Object.entries(files)) {
    const target = join(dir, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content);
  }
  return { dir, names, files: Object.keys(files) };
}
