import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createTapPeer, describeNetns, run, runOk, type TapPeer, waitFor } from '@tapnet/testing';
import { execa, type ResultPromise } from 'execa';
import { type Network, Pool } from 'tapnet';
import { afterEach, expect, it } from 'vitest';

// Drill: someone else removes our rules from a live pool (a firewall service's reload, another
// tool's `nft flush ruleset` / `iptables -F`). Two VM stand-ins on pool TAPs: A must never stay
// able to reach B. The pool must notice within about a second, put the rules back atomically,
// say so (`firewall-drift`, `status().firewall.reapplied`), and serve A's metadata meanwhile.
// Deleting only our nft table, or only our iptables jump, is drift too. After dispose(), nothing
// puts the rules back.

interface DriftEvent {
  backend: string;
  reason: string;
  reappliedAt: Date;
}

const B_PORT = 7000;

/** Whether A's TCP connection to B's listener gets B's banner (the firewall lets it through). */
async function reaches(from: TapPeer, to: TapPeer): Promise<boolean> {
  const target = `TCP4:${to.address}:${B_PORT},connect-timeout=2`;
  const out = await from.ns.run(['socat', '-T', '2', '-t', '2', '-', target], {
    input: '',
    timeout: 15_000,
  });
  return out.stdout.includes('banner-b');
}

// In A's namespace: a TCP connection attempt to B every 100 ms (1 s each), one JSON line per
// attempt with the wall-clock time it started and whether B answered.
const PROBER = `
import { connect } from 'node:net';
const [host, port] = process.argv.slice(-2);
for (;;) {
  const start = Date.now();
  const ok = await new Promise((resolve) => {
    const socket = connect({ host, port: Number(port) });
    let data = '';
    const done = (value) => { clearTimeout(timer); socket.destroy(); resolve(value); };
    const timer = setTimeout(() => done(false), 1000);
    socket.on('data', (chunk) => { data += chunk; if (data.includes('banner-b')) done(true); });
    socket.on('error', () => done(false));
    socket.on('close', () => done(data.includes('banner-b')));
  });
  console.log(JSON.stringify({ start, ok }));
  await new Promise((r) => setTimeout(r, 100));
}
`;

/** Probes from A to B in the background, for as long as the test runs. */
function probe(from: TapPeer, to: TapPeer) {
  const child = execa(
    'ip',
    [
      'netns',
      'exec',
      from.ns.name,
      process.execPath,
      '--input-type=module',
      '-e',
      PROBER,
      to.address,
      String(B_PORT),
    ],
    { reject: false, buffer: false, stdout: 'pipe' },
  );
  const results: { start: number; ok: boolean }[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => results.push(JSON.parse(line)));
  return {
    results,
    stop: async () => {
      child.kill('SIGKILL');
      await child;
    },
  };
}

async function ourRules(backend: 'nft' | 'iptables', prefix: string): Promise<string> {
  if (backend === 'nft') return (await run(['nft', 'list', 'tables'])).stdout;
  return (await run(['iptables-save'])).stdout
    .split('\n')
    .filter((l) => l.includes(`TAPNET-${prefix.toUpperCase()}-`))
    .join('\n');
}

describeNetns('drill: rules removed by someone else are put back (firewall drift)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanups.reverse()) await step();
    cleanups.length = 0;
  });

  for (const backend of ['nft', 'iptables'] as const) {
    it(`${backend}: a flush is undone within about a second; A never keeps a way to B`, async () => {
      const prefix = backend === 'nft' ? 'fdn' : 'fdi';
      // The kernel forwards A → B unless the rules stop it: a pool without uplink or `allow`
      // leaves ip_forward off, which would hide a hole in the rules from this drill.
      writeFileSync('/proc/sys/net/ipv4/ip_forward', '1\n');
      const pool = await Pool.create({
        size: 2,
        prefix,
        firewall: backend,
        uplink: null,
        upstreamDns: [],
      });
      let disposed = false;
      cleanups.push(async () => {
        if (!disposed) await pool.dispose();
      });
      const drifts: DriftEvent[] = [];
      const errors: Error[] = [];
      pool.on('firewall-drift', (event: DriftEvent) => drifts.push(event));
      pool.on('error', (error: Error) => errors.push(error));
      const [a, b] = [pool.network(), pool.network()] as [Network, Network];
      a.setHandler(() => new Response('meta-a'));
      b.setHandler(() => new Response('meta-b'));
      const peer = (n: Network) =>
        createTapPeer({ tap: n.name, subnet: n.subnet, gateway: n.gateway, mac: n.mac });
      const vmA = await peer(a);
      cleanups.push(() => vmA.close());
      const vmB = await peer(b);
      cleanups.push(() => vmB.close());
      const listener: ResultPromise = execa(
        'ip',
        [
          'netns',
          'exec',
          vmB.ns.name,
          'socat',
          `TCP4-LISTEN:${B_PORT},reuseaddr,fork`,
          'SYSTEM:echo banner-b',
        ],
        { reject: false },
      );
      cleanups.push(async () => {
        listener.kill('SIGKILL');
        await listener;
      });
      await waitFor(async () => (await vmB.ns.run(['ss', '-Hltn'])).stdout.includes(`:${B_PORT}`), {
        what: 'B listening',
      });
      // B's listener works (from B itself), and the firewall keeps A from it.
      const local = await vmB.ns.run(
        ['socat', '-T', '2', '-', `TCP4:127.0.0.1:${B_PORT},connect-timeout=2`],
        { input: '', timeout: 15_000 },
      );
      expect(local.stdout).toContain('banner-b');
      expect(await reaches(vmA, vmB)).toBe(false);
      expect((await pool.status()).firewall).toMatchObject({ intact: true, reapplied: 0 });

      // A probes B all along: no attempt started after the rules are back may get through.
      const prober = probe(vmA, vmB);
      cleanups.push(() => prober.stop());
      await waitFor(() => prober.results.length >= 3, { what: 'the first probes from A to B' });
      expect(prober.results.filter((r) => r.ok)).toEqual([]);

      // 1. The whole ruleset flushed (what a firewall service's restart does).
      const flushedAt = Date.now();
      if (backend === 'nft') await runOk(['nft', 'flush', 'ruleset']);
      else await runOk(['iptables', '-F']);
      await waitFor(() => drifts.length >= 1, {
        what: 'a firewall-drift event after the flush',
        seen: () => JSON.stringify({ drifts, errors: errors.map(String) }),
      });
      const latency = drifts[0]!.reappliedAt.getTime() - flushedAt;
      console.log(`${backend}: flush → rules back in ${latency} ms (${drifts[0]!.reason})`);
      expect(drifts[0]).toMatchObject({ backend });
      expect(drifts[0]!.reason).not.toBe('');
      // The window is closed: A cannot reach B, and the rules are whole again.
      const back = drifts[0]!.reappliedAt.getTime();
      await waitFor(() => prober.results.filter((r) => r.start > back).length >= 5, {
        what: 'five probes from A to B after the re-apply',
      });
      const during = prober.results.filter((r) => r.start >= flushedAt && r.start <= back);
      console.log(
        `${backend}: ${during.filter((r) => r.ok).length} of ${during.length} probes got through during the window`,
      );
      expect(prober.results.filter((r) => r.start > back && r.ok)).toEqual([]);
      expect(await reaches(vmA, vmB)).toBe(false);
      let status = await pool.status();
      expect(status.firewall.intact).toBe(true);
      expect(status.firewall.reapplied).toBe(drifts.length);
      // Both networks are served meanwhile.
      expect(await vmA.get()).toEqual({ status: 200, body: 'meta-a' });
      expect(await vmB.get()).toEqual({ status: 200, body: 'meta-b' });

      // 2. Only our table deleted (nft), or only our jump from a builtin chain (iptables).
      const before = drifts.length;
      if (backend === 'nft') await runOk(['nft', 'delete', 'table', 'inet', `tapnet_${prefix}`]);
      else
        await runOk(['iptables', '-D', 'FORWARD', '-j', `TAPNET-${prefix.toUpperCase()}-FORWARD`]);
      await waitFor(() => drifts.length > before, {
        what: 'a firewall-drift event after our table/jump was deleted',
        seen: () => JSON.stringify({ drifts, errors: errors.map(String) }),
      });
      expect(await reaches(vmA, vmB)).toBe(false);
      status = await pool.status();
      expect(status.firewall.intact).toBe(true);
      expect(status.firewall.reapplied).toBe(drifts.length);
      expect(await vmA.get()).toEqual({ status: 200, body: 'meta-a' });
      expect(errors).toEqual([]);

      // 3. After dispose() our rules are gone and stay gone: nothing re-applies them.
      await prober.stop();
      await vmA.close();
      await vmB.close();
      await pool.dispose();
      disposed = true;
      expect(await ourRules(backend, prefix)).not.toMatch(new RegExp(`tapnet_${prefix}\\b|TAPNET`));
      // Absence cannot be waited for: watch for longer than an iptables check period (1 s).
      const watchUntil = Date.now() + 2500;
      while (Date.now() < watchUntil) {
        expect(await ourRules(backend, prefix)).not.toMatch(
          new RegExp(`tapnet_${prefix}\\b|TAPNET`),
        );
        await new Promise((r) => setTimeout(r, 250));
      }
    }, 120_000);
  }
});
