// The process the noisy-neighbour drill runs inside a namespace (`ip netns exec <ns> node
// noisy-agent.ts '<json>'`), in one of three roles:
//
//   probe     a well-behaved VM: DHCP (DISCOVER → ACK for its own MAC), DNS (`taskcluster` from
//             its gateway) and one metadata GET on a new connection, each every `periodMs` for
//             `durationMs`; prints every latency and every failure.
//   attack    the hostile VM: the attacks of attack-kinds.ts, all at once, bounded in time and
//             count; prints its counters every 500 ms and at the end.
//   internet  the host beyond the uplink: an upstream DNS server (canned A answers after
//             `dnsDelayMs`, like a real resolver's round trip) and a TCP port that accepts and
//             holds, the conntrack flood's far end.
//
// Output: one JSON line per message on stdout. A line `stop` on stdin (or its end) stops early.
import { createSocket } from 'node:dgram';
import { request } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { type AttackConfig, startAttacks } from './attack-kinds.ts';
import { DhcpClient } from './dhcp-client.ts';
import { dnsAnswer, dnsQuery, readDnsReply } from './noisy-packets.ts';

export interface ProbeConfig {
  role: 'probe';
  gateway: string;
  mac: string;
  metadataHost: string;
  /** What the network's handler answers: anything else is a failure. */
  expectBody: string;
  periodMs: number;
  durationMs: number;
  /** An operation not done within this is a failure. */
  timeoutMs: number;
  /** Until each kind has succeeded once (not measured), at most this long; 0: no warm-up, every
   * attempt counts. */
  warmupMs: number;
}

export interface InternetConfig {
  role: 'internet';
  dnsAddress: string;
  dnsDelayMs: number;
  tcpAddress: string;
  tcpPort: number;
}

export type AgentConfig = ProbeConfig | AttackConfig | InternetConfig;

export type ProbeKind = 'dhcp' | 'dns' | 'metadata';
export interface ProbeOutcome {
  /** Milliseconds of each successful operation, in order. */
  latencies: number[];
  failures: { atMs: number; error: string }[];
}

const send = (message: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify(message)}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let stopped = false;
const stopWaiters: (() => void)[] = [];
const stopSignal = new Promise<void>((resolve) => stopWaiters.push(resolve));
function stop() {
  stopped = true;
  for (const resolve of stopWaiters.splice(0)) resolve();
}
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'stop') stop();
});
process.stdin.on('end', stop);

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function probe(config: ProbeConfig) {
  const dhcp = await DhcpClient.open();
  const dns = createSocket('udp4');
  await new Promise<void>((resolve) => dns.bind(0, resolve));
  let dnsId = 0;
  const dnsWaiting = new Map<number, (ok: boolean) => void>();
  dns.on('message', (message) => {
    const reply = readDnsReply(message);
    if (!reply) return;
    dnsWaiting.get(reply.id)?.(reply.rcode === 0 && reply.answers > 0);
    dnsWaiting.delete(reply.id);
  });
  const operations: Record<ProbeKind, () => Promise<void>> = {
    async dhcp() {
      await dhcp.lease(config.mac);
    },
    async dns() {
      const id = dnsId++ & 0xffff;
      const answered = new Promise<boolean>((resolve) => dnsWaiting.set(id, resolve));
      dns.send(dnsQuery(id, 'taskcluster'), 53, config.gateway);
      try {
        if (!(await answered)) throw new Error('an answer without an A record');
      } finally {
        dnsWaiting.delete(id);
      }
    },
    metadata: () =>
      new Promise<void>((resolve, reject) => {
        const req = request({ host: config.metadataHost, path: '/', agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('error', reject);
          res.on('end', () => {
            if (res.statusCode === 200 && body === config.expectBody) resolve();
            else reject(new Error(`HTTP ${res.statusCode}: ${body.slice(0, 80)}`));
          });
        });
        req.on('error', reject);
        req.end();
      }),
  };
  const kinds = Object.keys(operations) as ProbeKind[];
  const attempt = (kind: ProbeKind) =>
    withTimeout(operations[kind](), config.timeoutMs, `${kind} answer`);
  // Warm-up: the first lease and the first connection are not what is measured.
  const warmupEnd = Date.now() + config.warmupMs;
  if (config.warmupMs > 0)
    await Promise.all(
      kinds.map(async (kind) => {
        for (;;) {
          try {
            return await attempt(kind);
          } catch (error) {
            if (Date.now() > warmupEnd)
              throw new Error(`warm-up: ${kind} never succeeded: ${(error as Error).message}`);
            await sleep(200);
          }
        }
      }),
    );
  send({ type: 'ready' });
  const start = performance.now();
  const outcome = Object.fromEntries(
    kinds.map((k) => [k, { latencies: [], failures: [] } as ProbeOutcome]),
  ) as Record<ProbeKind, ProbeOutcome>;
  await Promise.all(
    kinds.map(async (kind) => {
      // Fixed schedule: tick n starts at n × period (or when tick n-1 ends, if later).
      for (let tick = 0; !stopped; tick++) {
        const due = start + tick * config.periodMs;
        if (due - start >= config.durationMs) break;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        const t0 = performance.now();
        try {
          await attempt(kind);
          outcome[kind].latencies.push(Math.round((performance.now() - t0) * 1000) / 1000);
        } catch (error) {
          outcome[kind].failures.push({
            atMs: Math.round(t0 - start),
            error: (error as Error).message,
          });
        }
      }
    }),
  );
  send({ type: 'result', outcome });
  dhcp.close();
  dns.close();
}

async function internet(config: InternetConfig) {
  const counters = { dnsQueries: 0, tcpAccepted: 0, tcpHeld: 0 };
  const dns = createSocket('udp4');
  dns.on('message', (message, from) => {
    counters.dnsQueries++;
    setTimeout(
      () => dns.send(dnsAnswer(message, '192.0.2.1'), from.port, from.address),
      config.dnsDelayMs,
    );
  });
  await new Promise<void>((resolve) => dns.bind(53, config.dnsAddress, resolve));
  const held = new Set<Socket>();
  const tcp = createServer((socket) => {
    counters.tcpAccepted++;
    held.add(socket);
    counters.tcpHeld = held.size;
    socket.on('error', () => {});
    socket.on('close', () => {
      held.delete(socket);
      counters.tcpHeld = held.size;
    });
  });
  await new Promise<void>((resolve) => tcp.listen(config.tcpPort, config.tcpAddress, resolve));
  send({ type: 'ready' });
  const report = setInterval(() => send({ type: 'counters', counters }), 1000);
  await stopSignal;
  clearInterval(report);
  for (const socket of held) socket.destroy();
  tcp.close();
  dns.close();
  send({ type: 'result', counters });
}

const config = JSON.parse(process.argv[2] ?? '{}') as AgentConfig;
try {
  if (config.role === 'probe') await probe(config);
  else if (config.role === 'internet') await internet(config);
  else if (config.role === 'attack') {
    const attacks = startAttacks(config);
    send({ type: 'ready' });
    const report = setInterval(() => send({ type: 'counters', counters: attacks.counters }), 500);
    // Every attack stops by itself at `durationMs`; `stop` ends them sooner.
    await Promise.race([attacks.done, stopSignal]);
    clearInterval(report);
    await attacks.stop();
    send({ type: 'result', counters: attacks.counters });
  } else throw new Error(`Expected role probe, attack or internet, got ${String(config)}`);
  process.exit(0);
} catch (error) {
  send({ type: 'error', error: (error as Error).stack ?? String(error) });
  process.exit(1);
}
