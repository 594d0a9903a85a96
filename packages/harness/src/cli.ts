#!/usr/bin/env node
import { runCli } from './commands.js';

// A reader that stops early (`tessera models | head`) closes the pipe: that ends the
// output, as SIGPIPE ends a C tool, rather than the command with an unhandled EPIPE trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
}

process.exitCode = await runCli(process.argv);
