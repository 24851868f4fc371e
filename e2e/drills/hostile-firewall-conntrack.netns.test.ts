import { createTapPeer, describeNetns, run, runOk, type TapPeer } from '@tapnet/testing';
import { type Network, Pool } from 'tapnet';
import { afterEach, expect, it } from 'vitest';

// Drill: one VM opens connections without end to fill the host's conntrack table, which all
// VMs share (when it is full, every VM's new connections drop). Here `nf_conntrack_max` cannot
// be lowered to make "full" reachable: the kernel makes it read-only outside the initial
// namespace (checked on 6.18), and filling the host's real table would hurt the host. So the
// drill shows the growth itself: without a cap every new flow of the attacker takes an entry;
// with `limits.connections` its entries stop at the cap, its further new flows are dropped, and
// another VM's new connections (UDP, TCP, a metadata request) work meanwhile. Closed TCP
// connections (TIME_WAIT) do not count against a VM's cap.

const CAP = 40;
const FLOOD = 10 * CAP;

/** Runs `script` with node inside the VM's namespace; argv after it; prints one JSON line. */
async function inVm(vm: TapPeer, script: string, args: string[]): Promise<Record<string, number>> {
  const out = await runOk([
    'ip',
    'netns',
    'exec',
    vm.ns.name,
    process.execPath,
    '--input-type=module',
    '-e',
    script,
    ...args,
  ]);
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, number>;
}

// One datagram from each of `count` sockets (a new UDP flow each): conntrack tracks each for 30 s.
const UDP_FLOWS = `
import { createSocket } from 'node:dgram';
const [host, port, count] = process.argv.slice(-3);
const sockets = [];
for (let i = 0; i < Number(count); i++) {
  const socket = createSocket('udp4');
  sockets.push(socket);
  await new Promise((resolve, reject) => socket.send('x', Number(port), host, (e) => (e ? reject(e) : resolve())));
}
for (const socket of sockets) socket.close();
console.log(JSON.stringify({ sent: sockets.length }));
`;

// `count` TCP connections one after another, each closed at once (they end in TIME_WAIT); a
// connection not established within 3 s counts as failed (its SYNs were dropped).
const TCP_SEQUENTIAL = `
import { connect } from 'node:net';
const [host, port, count] = process.argv.slice(-3);
let ok = 0, failed = 0;
for (let i = 0; i < Number(count); i++) {
  await new Promise((resolve) => {
    const socket = connect({ host, port: Number(port) });
    const timer = setTimeout(() => { failed++; socket.destroy(); resolve(); }, 3000);
    socket.on('connect', () => { clearTimeout(timer); ok++; socket.end(); });
    socket.on('error', () => { clearTimeout(timer); failed++; resolve(); });
    socket.on('close', resolve);
    socket.resume();
  });
}
console.log(JSON.stringify({ ok, failed }));
`;

/** Tracked flows from `address` (conntrack in this namespace, which is the host's). */
async function tracked(address: string, protocol: 'udp' | 'tcp'): Promise<number> {
  const out = await run(['conntrack', '-L', '-s', address, '-p', protocol, '--dport', '53']);
  return out.stdout.split('\n').filter((l) => l.includes(`src=${address} `)).length;
}

describeNetns('drill: one VM cannot fill the shared conntrack table (per-VM cap)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanups.reverse()) await step();
    cleanups.length = 0;
  });

  async function setup(backend: 'nft' | 'iptables', prefix: string, connections?: number) {
    await runOk(['conntrack', '-F']).catch(() => '');
    const pool = await Pool.create({
      size: 2,
      prefix,
      firewall: backend,
      uplink: null,
      upstreamDns: [],
      ...(connections !== undefined && { limits: { connections } }),
    });
    cleanups.push(() => pool.dispose());
    const [a, b] = [pool.network(), pool.network()] as [Network, Network];
    a.setHandler(() => new Response('meta-a'));
    b.setHandler(() => new Response('meta-b'));
    const peer = (n: Network) =>
      createTapPeer({ tap: n.name, subnet: n.subnet, gateway: n.gateway, mac: n.mac });
    const vmA = await peer(a);
    cleanups.push(() => vmA.close());
    const vmB = await peer(b);
    cleanups.push(() => vmB.close());
    return { pool, a, b, vmA, vmB };
  }

  for (const backend of ['nft', 'iptables'] as const) {
    it(`${backend}: without a (low) cap, every new flow of the attacker takes a conntrack entry`, async () => {
      const { a, vmA } = await setup(backend, backend === 'nft' ? 'ctn' : 'cti');
      expect(await inVm(vmA, UDP_FLOWS, [a.gateway, '53', String(FLOOD)])).toEqual({
        sent: FLOOD,
      });
      // The default cap (8192) is far above: the table grows with the attacker's flows.
      expect(await tracked(vmA.address, 'udp')).toBe(FLOOD);
    }, 120_000);

    it(`${backend}: with limits.connections, the attacker stops at its cap and another VM's new connections work`, async () => {
      const { a, b, vmA, vmB, pool } = await setup(backend, backend === 'nft' ? 'ccn' : 'cci', CAP);
      expect(await inVm(vmA, UDP_FLOWS, [a.gateway, '53', String(FLOOD)])).toEqual({
        sent: FLOOD,
      });
      const held = await tracked(vmA.address, 'udp');
      console.log(`${backend}: attacker sent ${FLOOD} new flows, ${held} tracked (cap ${CAP})`);
      expect(held).toBeLessThanOrEqual(CAP);
      expect(held).toBeGreaterThanOrEqual(CAP - 1);
      // The attacker's own new connections are dropped while it is at its cap...
      expect(await inVm(vmA, TCP_SEQUENTIAL, [a.gateway, '53', '1'])).toEqual({
        ok: 0,
        failed: 1,
      });
      // ...while the other VM's new connections work: a metadata request, new UDP flows...
      expect(await vmB.get()).toEqual({ status: 200, body: 'meta-b' });
      expect(await inVm(vmB, UDP_FLOWS, [b.gateway, '53', String(CAP / 2)])).toEqual({
        sent: CAP / 2,
      });
      expect(await tracked(vmB.address, 'udp')).toBe(CAP / 2);
      // ...and more TCP connections than the cap, one after another: closed connections
      // (TIME_WAIT, still in the table) are not counted.
      expect(await inVm(vmB, TCP_SEQUENTIAL, [b.gateway, '53', String(2 * CAP)])).toEqual({
        ok: 2 * CAP,
        failed: 0,
      });
      expect(await tracked(vmB.address, 'tcp')).toBeGreaterThan(CAP);
      // The kernel filling the cap's set is not drift: nothing was re-applied.
      expect((await pool.status()).firewall).toMatchObject({ intact: true, reapplied: 0 });
    }, 120_000);
  }
});
