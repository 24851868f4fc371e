// A guest's way onto its network, inside a sandbox. Prints JSON on stdout.
//
//   boots: the e2e test guest (TCG) on a facade pool; time from QEMU start to the first
//     metadata request reaching the handler, median of BENCH_BOOTS boots, with the console
//     markers' times (init reached, NIC up, lease, DNS) to split it. Same-run baseline: the
//     same guest without a NIC (`tapnet.net=none`), QEMU start to `init reached`: the part
//     that is kernel and TCG, not network.
//   dhcp: tapnet's dnsmasq (the config a pool gives it) with its firewall (nft), a veth peer in
//     a namespace standing in for the VM running `busybox udhcpc`: discover→lease from
//     udhcpc's own log lines, for new MACs (a new address) and a MAC seen before.
//   dns: UDP A queries for `taskcluster` from that namespace to its gateway (node:dgram in a
//     child process run with `ip netns exec`: guest-dns-client.ts), p50/p99; baseline in the same process: a
//     canned-answer node:dgram responder on the namespace's loopback.
//
//   debian: the Debian e2e guest (systemd-networkd, systemd-resolved; e2e/guest/debian.ts), QEMU
//     start to the first metadata request (its scenario, fetched as http://taskcluster/… once
//     resolved has the name over LLMNR) and to power-off, median of BENCH_DEBIAN_BOOTS boots;
//     the busybox boots of the same run are the comparison.
//
// Env: BENCH_BOOTS (3), BENCH_DEBIAN_BOOTS (2), BENCH_DHCP_SAMPLES (10), BENCH_DNS_QUERIES (2000),
// BENCH_SKIP_BOOTS=1.
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { Dnsmasq } from '../../packages/dhcp-dns/dist/index.js';
import { buildPolicy, createFirewall } from '../../packages/firewall/dist/index.js';
import { nodeHandler } from '../../packages/metadata-proxy/dist/index.js';
import { planPool } from '../../packages/tap-pool/dist/index.js';
import { Pool } from '../../packages/tapnet/dist/index.js';
import type { DnsTimes } from './guest-dns-client.ts';
import { assertSandbox, loadavg, median, percentile, progress, round } from './lib.ts';
import type { BootRun, GuestResult, SampleStats } from './results.ts';
import { runUdhcpc, type Udhcpc } from './udhcpc.ts';

/**
 * What a benched guest is served: a one-line scenario to fetch, a result it POSTs. `seen(req)`
 * is told of every request first (the timing the benchmark is about).
 */
function benchScenario(seen: (req: IncomingMessage) => void): ReturnType<typeof nodeHandler> {
  return nodeHandler((req, res) => {
    seen(req);
    if (req.method === 'POST') {
      req.resume();
      req.on('end', () => res.end('ok\n'));
    } else {
      res.setHeader('content-type', 'text/x-shellscript');
      res.end('echo bench\n');
    }
  });
}

async function main() {
  assertSandbox();
  const boots = Number(process.env.BENCH_BOOTS ?? 3);
  const dhcpSamples = Number(process.env.BENCH_DHCP_SAMPLES ?? 10);
  const dnsQueries = Number(process.env.BENCH_DNS_QUERIES ?? 2000);
  const results: GuestResult & { benchmark: string; loadavgStart: string; loadavgEnd?: string } = {
    benchmark: 'guest',
    loadavgStart: loadavg(),
  };
  const stats = (xs: number[]): SampleStats & { medianMs: number } => {
    const s = [...xs].sort((a, b) => a - b);
    return {
      samples: s.length,
      medianMs: round(median(s), 2),
      p50Ms: round(percentile(s, 50), 3),
      p99Ms: round(percentile(s, 99), 3),
      minMs: round(s[0] ?? Number.NaN, 3),
      maxMs: round(s.at(-1) ?? Number.NaN, 3),
    };
  };

  // --- dhcp + dns: dnsmasq and firewall as a pool sets them up, a veth peer as the VM.
  {
    const plan = planPool({ size: 1, prefix: 'bd', stateDir: '/run/tapnet' });
    const net = plan.networks[0]!;
    const prefixLength = net.subnet.split('/')[1];
    execFileSync('ip', ['netns', 'add', 'bdvm']);
    execFileSync('ip', ['link', 'add', net.device, 'type', 'veth', 'peer', 'name', 'bdpeer']);
    execFileSync('ip', ['link', 'set', 'bdpeer', 'netns', 'bdvm']);
    execFileSync('ip', ['-n', 'bdvm', 'link', 'set', 'bdpeer', 'name', 'eth0']);
    execFileSync('ip', ['addr', 'add', `${net.gateway}/${prefixLength}`, 'dev', net.device]);
    execFileSync('ip', ['link', 'set', net.device, 'up']);
    execFileSync('ip', ['-n', 'bdvm', 'link', 'set', 'lo', 'up']);
    execFileSync('ip', ['-n', 'bdvm', 'link', 'set', 'eth0', 'up']);
    const firewall = createFirewall({ backend: 'nft' });
    await firewall.apply(
      buildPolicy({
        prefix: plan.prefix,
        networks: [{ device: net.device, subnet: net.subnet, gateway: net.gateway }],
        uplink: null,
      }),
    );
    const dnsmasq = await Dnsmasq.start({
      networks: [
        {
          name: net.device,
          device: net.device,
          gateway: net.gateway,
          netmask: net.netmask,
          rangeStart: net.dhcpRange.start,
          rangeEnd: net.dhcpRange.end,
        },
      ],
      stateDir: '/run/tapnet/bd',
      upstream: [],
    });
    writeFileSync('/run/tapnet/bd-udhcpc.sh', '#!/bin/sh\nexit 0\n', { mode: 0o755 });

    const udhcpc = (mac: string) => runUdhcpc('bdvm', mac, '/run/tapnet/bd-udhcpc.sh');
    const macFor = (k: number) =>
      `02:bd:00:00:${((k >> 8) & 255).toString(16).padStart(2, '0')}:${(k & 255).toString(16).padStart(2, '0')}`;
    await udhcpc(macFor(9999)); // warm-up
    const fresh: Udhcpc[] = [];
    const again: Udhcpc[] = [];
    for (let k = 0; k < dhcpSamples; k++) fresh.push(await udhcpc(macFor(k)));
    for (let k = 0; k < dhcpSamples; k++) again.push(await udhcpc(macFor(0)));
    results.dhcp = {
      newMacOffer: stats(fresh.map((s) => s.discoverToOffer)),
      knownMacOffer: stats(again.map((s) => s.discoverToOffer)),
      newMac: stats(fresh.map((s) => s.discoverToLease)),
      knownMac: stats(again.map((s) => s.discoverToLease)),
      newMacWithProcessStart: stats(fresh.map((s) => s.processToLease)),
    };
    progress(`guest bench: dhcp done (loadavg ${loadavg()})`);

    // Give the peer its lease address again so it can query DNS from inside its subnet.
    const lease = await udhcpc(macFor(0));
    execFileSync('ip', ['-n', 'bdvm', 'addr', 'flush', 'dev', 'eth0']);
    execFileSync('ip', ['-n', 'bdvm', 'addr', 'add', `${lease.ip}/${prefixLength}`, 'dev', 'eth0']);
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        'ip',
        [
          'netns',
          'exec',
          'bdvm',
          process.execPath,
          join(import.meta.dirname, 'guest-dns-client.ts'),
          net.gateway,
          String(dnsQueries),
        ],
        { maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
      );
    });
    const dns = JSON.parse(out) as Record<'dnsmasq' | 'baseline', DnsTimes>;
    results.dns = {
      dnsmasq: { ...stats(dns.dnsmasq.times), errors: dns.dnsmasq.errors },
      baseline: { ...stats(dns.baseline.times), errors: dns.baseline.errors },
    };
    progress(`guest bench: dns done (loadavg ${loadavg()})`);
    await dnsmasq.stop();
    await firewall.remove(plan.prefix);
    execFileSync('ip', ['netns', 'del', 'bdvm']);
  }

  // --- guest boots
  if (boots > 0 && process.env.BENCH_SKIP_BOOTS !== '1') {
    const { buildGuest } = await import('../../e2e/guest/build.ts');
    const { bootGuest } = await import('../../e2e/src/qemu.ts');
    const image = await buildGuest();
    const pool = await Pool.create({ size: 1, prefix: 'bg', uplink: null, upstreamDns: [] });
    type Run = BootRun & { firstMetadataRequestMs: number; exitMs: number };
    const runs: Run[] = [];
    const baseline: BootRun[] = [];
    for (let k = 0; k < boots; k++) {
      // Baseline first: the same kernel and initramfs, no NIC.
      {
        let init: number | undefined;
        const t0 = performance.now();
        const run = await bootGuest({
          image,
          name: `bench-none-${k}`,
          mode: 'none',
          accel: 'tcg',
          timeoutMs: 300_000,
          onLine: (line: string) => {
            if (init === undefined && line.includes('TAPNET-GUEST: init reached'))
              init = performance.now();
          },
        });
        if (init === undefined)
          throw new Error(`baseline guest never reached init: ${run.logFile}`);
        baseline.push({ initMs: init - t0, exitMs: run.durationMs });
      }
      const network = pool.network();
      let firstRequest: number | undefined;
      const times: Record<string, number> = {};
      network.setHandler(
        benchScenario(() => {
          firstRequest ??= performance.now();
        }),
      );
      const t0 = performance.now();
      const run = await bootGuest({
        image,
        name: `bench-dhcp-${k}`,
        mode: 'dhcp',
        accel: 'tcg',
        netArgs: network.qemuArgs('n0'),
        timeoutMs: 300_000,
        onLine: (line: string) => {
          const marker = /TAPNET-GUEST: (\w+)/.exec(line)?.[1];
          if (marker && times[marker] === undefined) times[marker] = performance.now() - t0;
        },
      });
      network.release();
      if (firstRequest === undefined || !run.completed) {
        throw new Error(
          `guest did not complete (first request: ${firstRequest}); see ${run.logFile}`,
        );
      }
      runs.push({
        firstMetadataRequestMs: firstRequest - t0,
        initMs: times.init,
        nicMs: times.nic,
        leaseMs: times.lease,
        dnsMs: times.dns,
        exitMs: run.durationMs,
      });
      progress(`guest bench: boot ${k + 1}/${boots} done (loadavg ${loadavg()})`);
    }
    await pool.dispose();
    const med = (key: keyof Run, xs: BootRun[] = runs) =>
      round(median(xs.map((r) => r[key] ?? Number.NaN)), 0);
    results.boots = {
      accel: 'tcg',
      count: boots,
      runs,
      baseline,
      median: {
        firstMetadataRequestMs: med('firstMetadataRequestMs'),
        initMs: med('initMs'),
        nicMs: med('nicMs'),
        leaseMs: med('leaseMs'),
        dnsMs: med('dnsMs'),
        baselineInitMs: med('initMs', baseline),
        // Guest-side network part: from /init starting to the first metadata request.
        initToFirstRequestMs: round(
          median(runs.map((r) => r.firstMetadataRequestMs - (r.initMs ?? Number.NaN))),
          0,
        ),
        nicToLeaseMs: round(
          median(runs.map((r) => (r.leaseMs ?? Number.NaN) - (r.nicMs ?? Number.NaN))),
          0,
        ),
      },
    };
  }
  // --- the Debian guest (systemd-networkd + systemd-resolved): what a stock distro takes
  const debianBoots = Number(process.env.BENCH_DEBIAN_BOOTS ?? 2);
  if (debianBoots > 0 && process.env.BENCH_SKIP_BOOTS !== '1') {
    const { buildDebianGuest } = await import('../../e2e/guest/debian.ts');
    const { bootGuest } = await import('../../e2e/src/qemu.ts');
    const image = await buildDebianGuest();
    const pool = await Pool.create({ size: 1, prefix: 'bd', uplink: null, upstreamDns: [] });
    // A release waits for dnsmasq to drop leases it holds for other MACs (issue 11): say so.
    pool.on('leases-forgotten', (event) => progress(`leases forgotten: ${JSON.stringify(event)}`));
    const runs: { firstMetadataRequestMs: number; firstByNameMs?: number; exitMs: number }[] = [];
    for (let k = 0; k < debianBoots; k++) {
      const network = await pool.acquire({ timeout: 60_000 });
      let firstRequest: number | undefined;
      let firstByName: number | undefined;
      network.setHandler(
        benchScenario((req) => {
          const now = performance.now();
          firstRequest ??= now;
          // The scenario is fetched by name: `taskcluster` resolved through resolved's LLMNR.
          if (firstByName === undefined && req.headers.host === 'taskcluster') firstByName = now;
        }),
      );
      const t0 = performance.now();
      const run = await bootGuest({
        image,
        name: `bench-debian-${k}`,
        mode: 'dhcp',
        accel: 'tcg',
        netArgs: network.qemuArgs('n0'),
        append: `${image.append} tapnet.timeout=300`,
        memoryMb: 1024,
        timeoutMs: 600_000,
      });
      network.release();
      if (firstRequest === undefined || !run.completed) {
        throw new Error(
          `Debian guest did not complete (first request: ${firstRequest}); see ${run.logFile}`,
        );
      }
      runs.push({
        firstMetadataRequestMs: firstRequest - t0,
        ...(firstByName !== undefined && { firstByNameMs: firstByName - t0 }),
        exitMs: run.durationMs,
      });
      progress(`guest bench: Debian boot ${k + 1}/${debianBoots} done (loadavg ${loadavg()})`);
    }
    await pool.dispose();
    results.debian = {
      accel: 'tcg',
      count: debianBoots,
      runs,
      rootfsBytes: image.rootfsBytes,
      initrdBytes: image.initrdBytes,
      median: {
        firstMetadataRequestMs: round(median(runs.map((r) => r.firstMetadataRequestMs)), 0),
        exitMs: round(median(runs.map((r) => r.exitMs)), 0),
      },
      byName: runs.every((r) => r.firstByNameMs !== undefined),
    };
  }
  results.loadavgEnd = loadavg();
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

await main();
