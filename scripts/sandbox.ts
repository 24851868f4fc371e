// How tapnet's scripts run something in a sandbox: fresh network, PID and mount namespaces
// that die with the command (see sandbox-entry.ts). Used by the test runner and the benchmarks.
import { join } from 'node:path';

const entry = join(import.meta.dirname, 'sandbox-entry.ts');

/** argv that runs `argv` as the sandbox's payload. */
export function sandboxArgv(argv: string[]): string[] {
  return [
    'unshare',
    '--net',
    '--pid',
    '--mount',
    '--fork',
    '--kill-child',
    '--mount-proc',
    '--',
    process.execPath,
    entry,
    ...argv,
  ];
}
