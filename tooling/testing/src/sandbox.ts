import { describe } from 'vitest';
import { sandboxSkipReason } from './sandbox-guard.js';

export { assertInSandbox, sandboxSkipReason } from './sandbox-guard.js';

/** `describe` for tests that need root and their own namespace; skipped, with the reason in its name, elsewhere. */
export function describeNetns(name: string, fn: () => void): void {
  const reason = sandboxSkipReason();
  if (reason) describe.skip(`${name} [skipped: ${reason}]`, fn);
  else describe(name, fn);
}
