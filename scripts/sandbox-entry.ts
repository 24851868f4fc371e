// PID 1 of a sandbox made by `unshare --net --pid --mount --fork --kill-child --mount-proc`:
// gives the fresh namespace its own /sys and an up loopback, then runs the command. When this
// process exits the kernel kills everything left in the PID namespace, and the network
// namespace (with every device, rule and address made in it) goes with it.
import { execFileSync, spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';

const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  console.error('usage: sandbox-entry.ts COMMAND [ARGS...]');
  process.exit(2);
}
const hostNetns = process.env.TAPNET_HOST_NETNS;
if (!hostNetns || readlinkSync('/proc/self/ns/net') === hostNetns) {
  console.error('sandbox-entry: not inside a fresh network namespace; refusing to run');
  process.exit(2);
}
// sysfs shows the namespace of whoever mounted it; mount one for this namespace.
execFileSync('mount', ['-t', 'sysfs', 'sysfs', '/sys']);
// Named namespaces (`ip netns add`) live as files under /run/netns: keep them in this mount
// namespace, so a test that dies before deleting one leaves nothing on the host.
// The same for tapnet's own state folder, so sandboxes side by side never see each other's
// state records and a crashed test leaves none on the host.
for (const dir of ['/run/netns', '/run/tapnet']) {
  execFileSync('mkdir', ['-p', dir]);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'tapnet-sandbox', dir]);
}
execFileSync('ip', ['link', 'set', 'lo', 'up']);

const child = spawn(cmd, args, {
  stdio: 'inherit',
  env: { ...process.env, TAPNET_SANDBOX: '1' },
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + 15 : 1)));
