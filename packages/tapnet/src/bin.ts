#!/usr/bin/env node
import { main } from './cli/main.js';
import { formatError } from './cli/output.js';

const args = process.argv.slice(2);
main(args).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(formatError(error, args.includes('--json')));
    const code = (error as { code?: unknown } | null)?.code;
    process.exit(code === 'ERR_USAGE' ? 2 : code === 'ERR_QEMU_NOT_FOUND' ? 127 : 1);
  },
);
