// A process that holds a pool the way a worker does, for drills that kill it: it creates the
// pool from the built package, takes `guests` networks, answers each one's metadata with
// `<tag>:<network>`, starts a paused QEMU on each (holding the TAP open), prints one line
// `READY <json>` and waits. With `wires` (names of TAPs the caller made, one per guest), each
// guest's QEMU is instead a hub (`-machine none`) joining the network's TAP to that wire, which
// the caller then moves into a namespace that plays the VM. SIGTERM disposes properly; SIGKILL is what the drills send.
//
// Usage: node pool-holder.ts '<json: { options, guests, tag }>'
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { HEADLESS, hubArgs } from '@tapnet/testing/qemu-hub';
import type { Network, PoolOptions } from '../../packages/tapnet/dist/index.js';
import { Pool } from '../../packages/tapnet/dist/index.js';

interface HolderInput {
  options: PoolOptions;
  guests: number;
  tag: string;
  wires?: string[];
}

const input = JSON.parse(process.argv[2] ?? '{}') as HolderInput;
const pool = await Pool.create(input.options);
const networks: Network[] = [];
const qemus: ChildProcess[] = [];
for (let i = 0; i < input.guests; i++) {
  const network = pool.network();
  const tag = `${input.tag}:${network.name}`;
  network.setHandler(() => new Response(tag));
  networks.push(network);
  const wire = input.wires?.[i];
  const hub = wire ? hubArgs(network.name, wire) : undefined;
  qemus.push(
    spawn(
      'qemu-system-x86_64',
      hub ?? [
        '-machine',
        'q35',
        '-S',
        '-m',
        '32',
        ...HEADLESS,
        '-accel',
        'tcg',
        ...network.qemuArgs('net0'),
      ],
      { stdio: 'ignore' },
    ),
  );
}

// A TAP that is up shows NO-CARRIER until a process attaches to it: wait for every guest's.
const attached = (device: string) =>
  readFileSync(`/sys/class/net/${device}/carrier`, 'utf8').trim() === '1';
const deadline = Date.now() + 30_000;
while (!networks.every((n) => attached(n.name)) || !(input.wires ?? []).every(attached)) {
  if (Date.now() > deadline) throw new Error('QEMU did not attach to every TAP');
  if (qemus.some((q) => q.exitCode !== null)) throw new Error('a QEMU exited');
  await new Promise((r) => setTimeout(r, 50));
}

const status = await pool.status();
process.stdout.write(
  `READY ${JSON.stringify({
    pid: process.pid,
    dnsmasqPid: status.dnsmasq.pid,
    qemuPids: qemus.map((q) => q.pid),
    guests: networks.map((n) => ({
      name: n.name,
      subnet: n.subnet,
      gateway: n.gateway,
      mac: n.mac,
    })),
    plan: pool.plan.networks.map((n) => ({ name: n.device, subnet: n.subnet, gateway: n.gateway })),
  })}\n`,
);

process.on('SIGTERM', () => {
  for (const q of qemus) q.kill('SIGKILL');
  void pool.dispose().then(() => process.exit(0));
});
setInterval(() => {}, 1 << 30);
