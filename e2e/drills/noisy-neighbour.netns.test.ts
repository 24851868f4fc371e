import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  createInternet,
  createTapPeer,
  describeNetns,
  type Netns,
  runOk,
  snapshotNamespace,
  type TapPeer,
  UPLINK,
  waitFor,
} from '@tapnet/testing';
import { type Network, Pool } from 'tapnet';
import { expect, it } from 'vitest';
import {
  type Agent,
  type AttackConfig,
  type AttackCounters,
  type KindSummary,
  type ProbeKind,
  type ProbeResults,
  runProbes,
  startAgent,
  summarize,
} from './attacks.ts';
import { repoRoot } from './helpers.ts';

// Drill: one hostile VM runs every attack of issue 11 at once while three other networks' VMs
// go about their business; they must see no failure, and their latencies are reported.
//
//   vm0 (attacker) ── nn0 ┐                             ┌ up0 198.51.100.1 ══ 198.51.100.2 "internet":
//   vm1 ───────────── nn1 ┤ sandbox: facade Pool of 4 ──┘   203.0.113.53 upstream DNS (`server=`)
//   vm2 ───────────── nn2 ┤ (dnsmasq, metadata server,      203.0.113.10 TCP sink, UDP target
//   vm3 ───────────── nn3 ┘  firewall, NAT)
//
// Each vm is a namespace joined to its pool TAP by a QEMU hub (`createTapPeer`). The attacker
// (noisy-agent.ts, attack-kinds.ts): ~1100 idle connections to the metadata service plus ~300 new
// ones a second, slow headers, a request flood, DHCP starvation with random MACs, a DNS flood
// (names forwarded upstream and local) and a conntrack flood (new UDP/TCP flows to the
// internet host). The three others each do, every 200 ms: a DHCP exchange for their MAC
// (DISCOVER → ACK), a DNS query for `taskcluster` to their gateway, and a metadata GET on a new
// connection, first with no attacker (the baseline), then under attack. Everything is bounded
// in count and time and stays inside the sandbox's namespaces.
//
// The result (per kind p50/p99 with and without the attacker, the attacker's counters) is
// printed and written to `.test-results/noisy-neighbour.json` (or $NOISY_RESULT_FILE), where
// scripts/bench/noisy.bench.ts reads it for BENCHMARKS.md.
const SECONDS = Number(process.env.NOISY_SECONDS ?? 20);
const PERIOD_MS = 200;
/** A well-behaved operation not done within this is a failure (a stub resolver's timeout). */
const TIMEOUT_MS = 5000;
/** Issue 11: one network's flood must not move another network's metadata p99 above 1 s. */
const METADATA_P99_LIMIT_MS = 1000;
const INTERNET_IP = '203.0.113.10';
const UPSTREAM_DNS = '203.0.113.53';
const SINK_PORT = 7000;
const RESULT_FILE =
  process.env.NOISY_RESULT_FILE ?? join(repoRoot, '.test-results/noisy-neighbour.json');
const KINDS: ProbeKind[] = ['dhcp', 'dns', 'metadata'];

type AttackName =
  | 'connectionFlood'
  | 'slowHeaders'
  | 'requestFlood'
  | 'dhcpStarvation'
  | 'dnsFlood'
  | 'conntrackFlood';
const ALL_ATTACKS: AttackName[] = [
  'connectionFlood',
  'slowHeaders',
  'requestFlood',
  'dhcpStarvation',
  'dnsFlood',
  'conntrackFlood',
];
/** Every attack by default; `NOISY_ATTACKS=connectionFlood,dnsFlood` runs some, to tell which
 * one hurts (the drill's proof is the default: all at once). */
const ATTACKS = process.env.NOISY_ATTACKS
  ? (process.env.NOISY_ATTACKS.split(',') as AttackName[])
  : ALL_ATTACKS;
for (const name of ATTACKS)
  if (!ALL_ATTACKS.includes(name))
    throw new Error(`Expected NOISY_ATTACKS to name ${ALL_ATTACKS.join(', ')}, got ${name}`);

/**
 * What the attacker must at least have tried for the drill to mean anything. Attempts, not
 * successes: a fix may rightly refuse the attacker's connections, flows or leases (what it
 * achieved is in the result file). The request flood's floor is what it sends when it is
 * kept up but every request waits its full 2 s timeout: 16 in flight for the whole window. Its
 * pace on an unprotected server is tens of thousands; once the server caps a network's
 * connections, the attacker's own connection flood holds most of them and its requests wait for
 * a socket, as fast as the loaded machine lets the server end the flood's sockets (476 in 20 s
 * seen on the 2-core CI machine at load 5–8, against a floor of 500 before: a flaky floor).
 */
const REQUEST_FLOOD = { concurrency: 16, timeoutMs: 2000 };
const MEANINGFUL: {
  attack: AttackName;
  what: string;
  get: (c: AttackCounters) => number;
  least: number;
}[] = [
  {
    attack: 'connectionFlood',
    what: 'connection flood: connections tried',
    get: (c) => c.connectionFlood.attempted,
    least: 1100,
  },
  {
    attack: 'slowHeaders',
    what: 'slow headers: connections tried',
    get: (c) => c.slowHeaders.attempted,
    least: 100,
  },
  {
    attack: 'requestFlood',
    what: 'request flood: requests sent',
    get: (c) => c.requestFlood.sent,
    least: Math.floor((REQUEST_FLOOD.concurrency * SECONDS * 1000) / REQUEST_FLOOD.timeoutMs),
  },
  {
    attack: 'dhcpStarvation',
    what: 'DHCP starvation: DISCOVERs sent',
    get: (c) => c.dhcpStarvation.discovers,
    least: 500,
  },
  {
    attack: 'dnsFlood',
    what: 'DNS flood: queries sent',
    get: (c) => c.dnsFlood.sent,
    // Its pace was 1,400-2,400 a second on a loaded 2-core machine; half of 1,000 is the floor.
    least: 500 * SECONDS,
  },
  {
    attack: 'conntrackFlood',
    what: 'conntrack flood: UDP flows started',
    get: (c) => c.conntrackFlood.udpSent,
    least: 5000,
  },
  {
    attack: 'conntrackFlood',
    what: 'conntrack flood: TCP flows tried',
    get: (c) => c.conntrackFlood.tcpAttempted,
    least: 1000,
  },
];

function attackConfig(attacker: Network): AttackConfig {
  const all: AttackConfig = {
    role: 'attack',
    // Ends by itself even if the drill never stops it; the drill stops it after measuring.
    durationMs: SECONDS * 1000 + 60_000,
    metadata: { host: '169.254.169.254', port: 80 },
    gateway: attacker.gateway,
    connectionFlood: { idle: 1100, newPerSecond: 300, holdMs: 5000, max: 30_000 },
    slowHeaders: { connections: 100, byteEveryMs: 3000, max: 2000 },
    requestFlood: REQUEST_FLOOD,
    dhcpStarvation: { perSecond: 100, max: 3000 },
    dnsFlood: { perSecond: 4000, forwardedDomain: 'flood.example', localName: 'taskcluster' },
    conntrackFlood: {
      host: INTERNET_IP,
      tcpPort: SINK_PORT,
      udpPerSecond: 500,
      udpMax: 20_000,
      tcpPerSecond: 100,
      tcpMax: 3000,
    },
  };
  for (const name of ALL_ATTACKS) if (!ATTACKS.includes(name)) delete all[name];
  return all;
}

function conntrackCount(): number {
  try {
    return Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_count', 'utf8'));
  } catch {
    return Number.NaN;
  }
}

type PhaseSummary = Record<ProbeKind, KindSummary> & {
  perNetwork: Record<string, Record<ProbeKind, KindSummary>>;
};

function summarizePhase(names: string[], results: ProbeResults[]): PhaseSummary {
  const perNetwork = Object.fromEntries(
    names.map((name, i) => [
      name,
      Object.fromEntries(KINDS.map((k) => [k, summarize([results[i]![k]])])),
    ]),
  ) as PhaseSummary['perNetwork'];
  const pooled = Object.fromEntries(
    KINDS.map((k) => [k, summarize(results.map((r) => r[k]))]),
  ) as Record<ProbeKind, KindSummary>;
  return { ...pooled, perNetwork };
}

describeNetns('drill: noisy neighbour', () => {
  it(`one VM runs ${ATTACKS.length === ALL_ATTACKS.length ? 'every attack' : ATTACKS.join(' + ')} at once; three other networks' DHCP, DNS and metadata every ${PERIOD_MS} ms see no failure (${SECONDS} s with and without it)`, async () => {
    const started = Date.now();
    const empty = await snapshotNamespace();
    let inet: Netns | undefined;
    let internet: Agent<unknown> | undefined;
    let attacker: Agent<AttackCounters> | undefined;
    let pool: Pool | undefined;
    const peers: TapPeer[] = [];
    try {
      inet = await createInternet([INTERNET_IP, UPSTREAM_DNS]);
      internet = await startAgent(inet, {
        role: 'internet',
        dnsAddress: UPSTREAM_DNS,
        dnsDelayMs: 20,
        tcpAddress: INTERNET_IP,
        tcpPort: SINK_PORT,
      });

      pool = await Pool.create({
        size: 4,
        prefix: 'nn',
        upstreamDns: [UPSTREAM_DNS],
        uplink: UPLINK.device,
      });
      const networks = [0, 1, 2, 3].map(() => pool!.network());
      for (const network of networks) {
        const body = `ok:${network.name}`;
        network.setHandler(() => new Response(body));
        peers.push(
          await createTapPeer({
            tap: network.name,
            subnet: network.subnet,
            gateway: network.gateway,
            mac: network.mac,
            prefix: 'nn',
          }),
        );
      }
      const [hostile, ...quiet] = networks as [Network, ...Network[]];
      const quietPeers = peers.slice(1);
      const probes = (warmupMs: number) =>
        quiet.map((network, i) => ({
          ns: quietPeers[i]!.ns,
          config: {
            role: 'probe' as const,
            gateway: network.gateway,
            mac: network.mac,
            metadataHost: '169.254.169.254',
            expectBody: `ok:${network.name}`,
            periodMs: PERIOD_MS,
            durationMs: SECONDS * 1000,
            timeoutMs: TIMEOUT_MS,
            warmupMs,
          },
        }));
      const names = quiet.map((n) => n.name);

      // Baseline: the same probes with the attacker's VM present and idle.
      const baseline = summarizePhase(names, await runProbes(probes(30_000)));

      attacker = await startAgent<AttackCounters>(peers[0]!.ns, attackConfig(hostile));
      let conntrackPeak = conntrackCount();
      const sampler = setInterval(() => {
        conntrackPeak = Math.max(conntrackPeak, conntrackCount());
      }, 500);
      // Measure once the floods are up (the idle connections opened, queries flowing), or
      // after 15 s whatever they reached (the counters below say what they reached).
      const ramp = Date.now();
      await waitFor(
        () => {
          const c = attacker!.latest() as AttackCounters | undefined;
          return (
            c &&
            (!ATTACKS.includes('connectionFlood') || c.connectionFlood.attempted >= 1100) &&
            (!ATTACKS.includes('dnsFlood') || c.dnsFlood.sent >= 2000)
          );
        },
        { what: 'the attack to ramp up', timeout: 15_000 },
      ).catch(() => undefined);
      const rampMs = Date.now() - ramp;
      // No warm-up under attack: every attempt counts.
      const attackedResults = await runProbes(probes(0));
      const counters = await attacker.stop();
      clearInterval(sampler);
      const attacked = summarizePhase(names, attackedResults);
      const status = await pool.status();

      const load = MEANINGFUL.filter((m) => ATTACKS.includes(m.attack)).map((m) => ({
        what: m.what,
        achieved: m.get(counters),
        least: m.least,
      }));
      const result = {
        date: new Date().toISOString(),
        seconds: SECONDS,
        attacks: ATTACKS,
        periodMs: PERIOD_MS,
        timeoutMs: TIMEOUT_MS,
        metadataP99LimitMs: METADATA_P99_LIMIT_MS,
        networks: { attacker: hostile.name, quiet: names },
        baseline,
        attacked,
        attacker: counters,
        attackerLoad: load,
        rampMs,
        conntrackPeak,
        internet: internet.latest(),
        dnsmasq: status.dnsmasq,
        drillSeconds: Math.round((Date.now() - started) / 1000),
      };
      mkdirSync(dirname(RESULT_FILE), { recursive: true });
      writeFileSync(RESULT_FILE, `${JSON.stringify(result, null, 2)}\n`);
      const line = (phase: PhaseSummary) =>
        KINDS.map(
          (k) =>
            `${k} p50 ${phase[k].p50Ms} / p99 ${phase[k].p99Ms} ms, ${phase[k].failures}/${phase[k].samples} failed`,
        ).join('; ');
      console.log(
        `noisy neighbour (${SECONDS} s each):\n  baseline: ${line(baseline)}\n  attacked: ${line(attacked)}\n` +
          `  attacker: ${JSON.stringify(counters)}\n  conntrack peak ${conntrackPeak}; result in ${RESULT_FILE}`,
      );

      // An attack that did nothing proves nothing.
      for (const { what, achieved, least } of load)
        expect.soft(achieved, `attacker ${what}`).toBeGreaterThanOrEqual(least);
      // The baseline must be clean, or the measurement itself is broken.
      for (const kind of KINDS)
        expect.soft(baseline[kind].firstFailures, `baseline ${kind} failures`).toEqual([]);
      // The point: the attacker costs the others nothing they would notice.
      for (const kind of KINDS) {
        expect
          .soft(
            attacked[kind].failures,
            `${kind} failures under attack (of ${attacked[kind].samples}; first: ${JSON.stringify(attacked[kind].firstFailures)})`,
          )
          .toBe(0);
      }
      // Generous on purpose (the bound); the measured p99s are in the result file.
      expect
        .soft(attacked.metadata.p99Ms, 'metadata p99 under attack (ms)')
        .toBeLessThanOrEqual(METADATA_P99_LIMIT_MS);
    } finally {
      await attacker?.kill();
      for (const peer of peers) await peer.close();
      await pool?.dispose();
      await internet?.kill();
      await inet?.delete();
      await runOk(['ip', 'route', 'del', 'default']).catch(() => undefined);
    }
    // Nothing of the drill outlives it: devices, rules, routes, namespaces, processes.
    expect(await snapshotNamespace()).toEqual(empty);
  }, 170_000);
});
