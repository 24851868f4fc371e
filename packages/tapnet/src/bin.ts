#!/usr/bin/env node
import { main } from './cli.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const e = error as { code?: string; message?: string };
    process.stderr.write(`tapnet: ${e.message ?? String(error)}${e.code ? ` [${e.code}]` : ''}\n`);
    process.exit(e.code === 'ERR_USAGE' ? 2 : 1);
  },
);
