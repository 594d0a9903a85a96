#!/usr/bin/env node
import { relative } from 'node:path';
import { generatePlugin } from './generate.js';

const USAGE = 'usage: create-tessera-plugin <name> [--dir <folder>]   (or: npm create tessera-plugin <name>)';

function main(argv: string[]): number {
  const args = [...argv];
  let dir: string | undefined;
  const at = args.indexOf('--dir');
  if (at >= 0) {
    dir = args[at + 1];
    if (!dir) {
      process.stderr.write(`error: --dir needs a folder\n${USAGE}\n`);
      return 2;
    }
    args.splice(at, 2);
  }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [name, ...rest] = args;
  if (!name || rest.length) {
    process.stderr.write(`error: give exactly one plugin name\n${USAGE}\n`);
    return 2;
  }
  try {
    const { dir: out, names } = generatePlugin(name, dir ? { dir } : {});
    const where = relative(process.cwd(), out) || '.';
    process.stdout.write(
      `created ${names.packageName} in ${where}: block ${names.prefix}_token_mlp, model ${names.prefix}_tiny, augmentation ${names.prefix}_flip\n\n  cd ${where}\n  npm install\n  npm test\n`,
    );
    return 0;
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
