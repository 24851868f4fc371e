// No root: QEMU's user-mode network, with metadata served through a unix socket in a folder of
// yours. `restrict: true` cuts the guest off from everything but its metadata.
//
// A user-mode guest's connections are made by QEMU itself, from wherever it runs: try this in a
// network namespace with no route out (`unshare --net` as root, or `unshare -rn` as a user).
//
//   node examples/user-mode.ts KERNEL INITRD
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Response, UserNetwork } from 'tapnet';
import { guestFromArgs, qemuArgv } from './guest.ts';

const guest = guestFromArgs('user-mode.ts');
const folder = await mkdtemp(join(tmpdir(), 'tapnet-user-'));
try {
  await using network = await UserNetwork.create(folder, { restrict: true });
  const result = Promise.withResolvers<string>();
  network.setHandler(async (request) => {
    const path = new URL(request.url).pathname;
    if (path === '/scenario')
      return new Response('echo "user-mode guest"\nwget -qO- http://169.254.169.254/token\n');
    if (path === '/token') return new Response('token-for-this-vm');
    if (path === '/result' && request.method === 'POST') {
      result.resolve(await request.text());
      return new Response('thanks\n');
    }
    return new Response('not found\n', { status: 404 });
  });
  const netArgs = ['-netdev', network.netdev('net0'), '-device', 'virtio-net-pci,netdev=net0'];
  const qemu = spawn(
    'qemu-system-x86_64',
    qemuArgv(guest, 'user', netArgs, join(folder, 'console.log')),
    {
      stdio: 'ignore',
    },
  );
  const exited = once(qemu, 'exit');
  AbortSignal.timeout(240_000).addEventListener('abort', () => qemu.kill('SIGKILL'));
  const output = await Promise.race([
    result.promise,
    exited.then(() => {
      throw new Error('the VM stopped without posting a result');
    }),
  ]);
  await exited;
  console.log(output.trim().replaceAll('\n', ' | '));
} finally {
  await rm(folder, { recursive: true, force: true });
}
