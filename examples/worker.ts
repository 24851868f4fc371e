// A CI worker: one pool, one network per VM, each job's VM handed its own script and its own
// secret by the metadata service (a fetch-style handler), its result posted back. Two jobs run
// at once; neither VM can see the other's secret, because the handler answering a VM is chosen
// by the network the request came from.
//
//   node examples/worker.ts KERNEL INITRD      (as root; it creates TAPs and firewall rules)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool, Response } from 'tapnet';
import { guestFromArgs, qemuArgv } from './guest.ts';

const guest = guestFromArgs('worker.ts');
await using pool = await Pool.create({ size: 2 });

async function runJob(job: string, secret: string): Promise<string> {
  const network = await pool.acquire({ timeout: 60_000 });
  try {
    const result = Promise.withResolvers<string>();
    network.setHandler(async (request) => {
      const path = new URL(request.url).pathname;
      if (path === '/scenario') {
        return new Response(
          `echo "${job} ran on $TAPNET_IP"\nwget -qO- http://taskcluster/secret\n`,
        );
      }
      if (path === '/secret') return new Response(secret);
      if (path === '/result' && request.method === 'POST') {
        result.resolve(await request.text());
        return new Response('thanks\n');
      }
      return new Response('not found\n', { status: 404 });
    });
    const log = join(tmpdir(), `tapnet-example-${job}.log`);
    const qemu = spawn(
      'qemu-system-x86_64',
      qemuArgv(guest, 'dhcp', network.qemuArgs('net0'), log),
      {
        stdio: 'ignore',
      },
    );
    const exited = once(qemu, 'exit');
    const gaveUp = AbortSignal.timeout(240_000);
    gaveUp.addEventListener('abort', () => qemu.kill('SIGKILL'));
    try {
      const output = await Promise.race([
        result.promise,
        exited.then(() => {
          throw new Error(`${job}: the VM stopped without posting a result (console: ${log})`);
        }),
      ]);
      await exited; // the guest powers off once it has posted
      await rm(log, { force: true }); // kept only when the job failed
      return output;
    } finally {
      await exited;
    }
  } finally {
    network.release();
  }
}

const results = await Promise.all([
  runJob('job-1', 'secret-for-job-1'),
  runJob('job-2', 'secret-for-job-2'),
]);
for (const output of results) console.log(output.trim().replaceAll('\n', ' | '));
