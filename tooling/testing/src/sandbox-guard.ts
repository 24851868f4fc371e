import { accessSync, constants, readlinkSync } from 'node:fs';

// The one sandbox guard: test files (`describeNetns`), the test helpers that touch the network
// and the demo all ask it. No vitest import, so a script run by Node alone can use it too.

/**
 * Why privileged tests cannot run here, or undefined when they can. They run only as root,
 * with /dev/net/tun, inside the fresh network namespace that `scripts/run-tests.ts` makes
 * for each privileged file, never in the namespace the test command started in.
 */
export function sandboxSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    return 'needs /dev/net/tun';
  }
  const host = process.env.TAPNET_HOST_NETNS;
  if (process.env.TAPNET_SANDBOX !== '1' || !host) {
    return 'not in a sandbox namespace (run through `./tapnet.sh test` or `node scripts/run-tests.ts`)';
  }
  if (readlinkSync('/proc/self/ns/net') === host)
    return 'sandbox shares the root network namespace';
  return undefined;
}

/** Throws unless this process is inside a sandbox namespace: a last guard before touching the network. */
export function assertInSandbox(): void {
  const reason = sandboxSkipReason();
  if (reason) throw new Error(`refusing to touch the network: ${reason}`);
}
