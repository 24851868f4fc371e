// Metadata from a central service: the worker keeps no job data; each VM's metadata requests are
// forwarded (with undici) to a service that holds it, under a base path naming the VM's job.
// The service also learns which network asked (X-Tapnet-Network). Here the "central service" is
// a node:http server on a unix socket started by the example itself; in a fleet it is elsewhere
// (`forward: 'http://config.internal/vms/<job>'`).
//
//   node examples/forward.ts KERNEL INITRD      (as root)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'tapnet';
import { guestFromArgs, qemuArgv } from './guest.ts';

const guest = guestFromArgs('forward.ts');
const folder = await mkdtemp(join(tmpdir(), 'tapnet-central-'));
const socket = join(folder, 'central.sock');

const jobs = new Map([
  [
    'job-7',
    { script: 'echo "job-7 says hello"\nwget -qO- http://taskcluster/config\n', config: 'debug=1' },
  ],
]);
const posted = Promise.withResolvers<{ job: string; network: string; body: string }>();
const central = createServer(async (req, res) => {
  const [, vms, job, leaf] = (req.url ?? '').split('/');
  const entry = vms === 'vms' && job ? jobs.get(job) : undefined;
  if (!entry || !job) return void res.writeHead(404).end('no such job\n');
  if (leaf === 'scenario') return void res.end(entry.script);
  if (leaf === 'config') return void res.end(entry.config);
  if (leaf === 'result' && req.method === 'POST') {
    let body = '';
    for await (const chunk of req) body += chunk;
    posted.resolve({ job, network: String(req.headers['x-tapnet-network']), body });
    return void res.end('thanks\n');
  }
  res.writeHead(404).end('not found\n');
});
central.listen(socket);
await once(central, 'listening');

try {
  await using pool = await Pool.create({ size: 1 });
  const network = pool.network();
  network.setHandler({ forward: `unix:${socket}:/vms/job-7` });
  const qemu = spawn(
    'qemu-system-x86_64',
    qemuArgv(guest, 'dhcp', network.qemuArgs('net0'), join(folder, 'console.log')),
    {
      stdio: 'ignore',
    },
  );
  const exited = once(qemu, 'exit');
  AbortSignal.timeout(240_000).addEventListener('abort', () => qemu.kill('SIGKILL'));
  const result = await Promise.race([
    posted.promise,
    exited.then(() => {
      throw new Error('the VM stopped without posting a result');
    }),
  ]);
  await exited;
  network.release();
  console.log(
    `${result.job} (network ${result.network}): ${result.body.trim().replaceAll('\n', ' | ')}`,
  );
} finally {
  central.close();
  await rm(folder, { recursive: true, force: true });
}
