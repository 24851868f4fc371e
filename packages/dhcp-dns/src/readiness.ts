// When is a dnsmasq ready: it answers DNS on every gateway. Asked cheaply at any size: one
// gateway at a time while dnsmasq starts, then every gateway still missing from one socket.
import { type DnsResponse, RecordType } from './dns-message.js';
import type { Runner } from './runner.js';

/** How long one query (or one window of queries) waits for its answer. */
export const PROBE_TIMEOUT_MS = 250;
/** Pause between rounds of probing. */
export const PROBE_GAP_MS = 20;

export interface Expectation {
  /** The name asked for: the first metadata name, or `localhost` when there is none. */
  name: string;
  /** The A record the answer must carry; undefined: any answer counts. */
  address: string | undefined;
}

export function expectationOf(metadataNames: readonly string[], metadataIp: string): Expectation {
  const [name] = metadataNames;
  return name === undefined
    ? { name: 'localhost', address: undefined }
    : { name, address: metadataIp };
}

export function isExpected(response: DnsResponse, expected: Expectation): boolean {
  if (expected.address === undefined) return true;
  return response.answers.some((a) => a.type === 'A' && a.address === expected.address);
}

/**
 * The gateways to ask in the next round. Until one has answered, dnsmasq is still starting and
 * asking thousands of gateways each round would only load the host it needs (under iptables,
 * one socket per gateway every 20 ms starved dnsmasq of its 10 s): one pending gateway, a
 * different one each round, so one bad gateway cannot hide the rest. Once one answered,
 * dnsmasq has bound its listeners (bind-dynamic binds every listed interface's address at
 * startup, before it serves), and every pending gateway is asked.
 */
export function nextProbe(
  pending: readonly string[],
  anyAnswered: boolean,
  round: number,
): string[] {
  if (pending.length === 0) return [];
  if (anyAnswered) return [...pending];
  return [pending[round % pending.length]!];
}

/**
 * The gateways among `gateways` that answered as expected: through the runner's `queryDnsMany`
 * (one socket for all) when it has one, else one `queryDns` each.
 */
export async function probeGateways(
  runner: Runner,
  gateways: readonly string[],
  expected: Expectation,
): Promise<Set<string>> {
  const answered = new Set<string>();
  if (runner.queryDnsMany) {
    let answers: Map<string, DnsResponse>;
    try {
      answers = await runner.queryDnsMany(gateways, expected.name, RecordType.A, PROBE_TIMEOUT_MS);
    } catch {
      return answered;
    }
    for (const [gateway, response] of answers)
      if (isExpected(response, expected)) answered.add(gateway);
    return answered;
  }
  await Promise.all(
    gateways.map(async (gateway) => {
      try {
        const response = await runner.queryDns(
          gateway,
          expected.name,
          RecordType.A,
          PROBE_TIMEOUT_MS,
        );
        if (isExpected(response, expected)) answered.add(gateway);
      } catch {
        // no answer yet
      }
    }),
  );
  return answered;
}

export interface ProbeProgress {
  /** Whether any gateway has answered yet (dnsmasq is serving). */
  answered: boolean;
  round: number;
}

/**
 * One round of the readiness check: removes from `pending` the gateways found served. Once one
 * gateway answered DNS, the others count when dnsmasq (`pid`) holds a UDP socket on their
 * port 53 (one read of the socket table, at any size: asking each gateway instead costs
 * dnsmasq a poll() over all its sockets per question, seconds at 4096); the gateways it has not
 * bound, and all of them with a runner that cannot tell, are asked over DNS.
 */
export async function probeRound(
  runner: Runner,
  pid: number | undefined,
  pending: Set<string>,
  progress: ProbeProgress,
  expected: Expectation,
): Promise<void> {
  const dropBound = async () => {
    if (pid === undefined || !runner.udpListeners) return;
    const bound = await runner.udpListeners(pid, 53).catch(() => new Set<string>());
    for (const gateway of bound) pending.delete(gateway);
  };
  if (progress.answered) await dropBound();
  if (pending.size === 0) return;
  const asked = nextProbe([...pending], progress.answered, progress.round++);
  const answered = await probeGateways(runner, asked, expected);
  for (const gateway of answered) pending.delete(gateway);
  if (!progress.answered && answered.size > 0) {
    progress.answered = true;
    await dropBound();
  }
}
