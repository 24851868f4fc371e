import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { describeValue } from '@tapnet/internal';
import { InvalidConfigError, LlmnrStartError } from './errors.js';
import { type LlmnrRate, SubnetIndex, TokenBuckets } from './llmnr-budget.js';
import {
  answerLlmnrQuery,
  buildLlmnrRecords,
  LLMNR_GROUP,
  LLMNR_PORT,
  type LlmnrRecords,
  parseLlmnrQuery,
} from './llmnr-message.js';
import { isDnsName, isIPv4, isIPv6, prefixLengthOfNetmask } from './validate.js';

export interface LlmnrNetwork {
  /** Key of the network's budget and its stats. */
  name: string;
  /** The host's address on the network's device: the group is joined there. */
  gateway: string;
  netmask: string;
}

export interface LlmnrResponderOptions {
  networks: readonly LlmnrNetwork[];
  /** Default `169.254.169.254`. */
  metadataIp?: string;
  /** Default `['taskcluster']`: answered with `metadataIp`. */
  metadataNames?: readonly string[];
  /** Operator records `{ names, ipv4?, ipv6? }`, answered as A/AAAA. Default none. */
  hostRecords?: readonly { names: readonly string[]; ipv4?: string; ipv6?: string }[];
  /** Per-network budget of queries. Default 20 per second, bursts of 40. */
  rate?: LlmnrRate;
  /** Default 5355; other values are for tests only. */
  port?: number;
}

export interface LlmnrStats {
  received: number;
  answered: number;
  /** Over a network's budget: dropped before parsing. */
  limited: number;
  /** Not a query we answer: malformed, a name we do not own, a source of no network. */
  ignored: number;
  sendErrors: number;
}

export const llmnrDefaults = Object.freeze({
  metadataIp: '169.254.169.254',
  metadataNames: Object.freeze(['taskcluster']),
  rate: Object.freeze({ perSecond: 20, burst: 40 }),
});

/** Validates options into the owned-name table and the network index; throws InvalidConfigError. Pure. */
export function planLlmnr(options: LlmnrResponderOptions): {
  records: LlmnrRecords;
  index: SubnetIndex<LlmnrNetwork>;
  rate: LlmnrRate;
  port: number;
} {
  const o = options;
  if (!Array.isArray(o.networks) || o.networks.length < 1) {
    throw new InvalidConfigError('networks', 'an array of at least one network', o.networks);
  }
  o.networks.forEach((n, i) => {
    if (typeof n?.name !== 'string' || n.name === '')
      throw new InvalidConfigError(`networks[${i}].name`, 'a non-empty string', n?.name);
    if (!isIPv4(n.gateway))
      throw new InvalidConfigError(`networks[${i}].gateway`, 'an IPv4 address', n.gateway);
    if (prefixLengthOfNetmask(n.netmask) === undefined)
      throw new InvalidConfigError(`networks[${i}].netmask`, 'an IPv4 netmask', n.netmask);
  });
  const metadataIp = o.metadataIp ?? llmnrDefaults.metadataIp;
  if (!isIPv4(metadataIp))
    throw new InvalidConfigError('metadataIp', 'an IPv4 address', metadataIp);
  const metadataNames = o.metadataNames ?? llmnrDefaults.metadataNames;
  for (const [i, name] of metadataNames.entries()) {
    if (!isDnsName(name))
      throw new InvalidConfigError(`metadataNames[${i}]`, 'an RFC 1123 name', name);
  }
  const hostRecords = o.hostRecords ?? [];
  for (const [i, r] of hostRecords.entries()) {
    for (const [j, name] of r.names.entries()) {
      if (!isDnsName(name))
        throw new InvalidConfigError(`hostRecords[${i}].names[${j}]`, 'an RFC 1123 name', name);
    }
    if (r.ipv4 !== undefined && !isIPv4(r.ipv4))
      throw new InvalidConfigError(`hostRecords[${i}].ipv4`, 'an IPv4 address', r.ipv4);
    if (r.ipv6 !== undefined && !isIPv6(r.ipv6))
      throw new InvalidConfigError(`hostRecords[${i}].ipv6`, 'an IPv6 address', r.ipv6);
  }
  const rate = o.rate ?? llmnrDefaults.rate;
  if (!(rate.perSecond > 0) || !(rate.burst >= 1)) {
    throw new InvalidConfigError('rate', '{ perSecond > 0, burst >= 1 }', rate);
  }
  const port = o.port ?? LLMNR_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidConfigError('port', 'an integer from 1 to 65535', port);
  }
  return {
    records: buildLlmnrRecords([{ names: metadataNames, ipv4: metadataIp }, ...hostRecords]),
    index: new SubnetIndex(
      o.networks.map((n) => ({ gateway: n.gateway, netmask: n.netmask, value: n })),
    ),
    rate,
    port,
  };
}

/** How many interfaces one socket may join a group on here (net.ipv4.igmp_max_memberships). */
export function maxMemberships(
  read: () => string = () => readFileSync('/proc/sys/net/ipv4/igmp_max_memberships', 'utf8'),
): number {
  try {
    const value = Number(read().trim());
    return Number.isInteger(value) && value >= 1 ? value : 20;
  } catch {
    return 20;
  }
}

/**
 * An LLMNR (RFC 4795) responder for a pool's networks, so that systemd-resolved guests, which
 * never send single-label names to unicast DNS, resolve the metadata names.
 *
 * Sockets bound to the group 224.0.0.252, each joined on at most igmp_max_memberships gateways,
 * take multicast queries; one socket per gateway takes unicast ones. Answers go unicast to the querier's
 * address and port (RFC 4795 section 2.4) with IP TTL 255 (section 2.5), from the gateway.
 */
export class LlmnrResponder {
  readonly #sockets: Socket[];
  readonly #stats: LlmnrStats = { received: 0, answered: 0, limited: 0, ignored: 0, sendErrors: 0 };
  #stopped = false;

  private constructor(sockets: Socket[]) {
    this.#sockets = sockets;
  }

  static async start(options: LlmnrResponderOptions): Promise<LlmnrResponder> {
    const { records, index, rate, port } = planLlmnr(options);
    const sockets: Socket[] = [];
    const responder = new LlmnrResponder(sockets);
    const buckets = new TokenBuckets(rate);
    const onMessage = (socket: Socket) => (msg: Buffer, from: RemoteInfo) =>
      responder.#handle(socket, msg, from, index, buckets, records);
    try {
      // The kernel lets one socket join a group on at most igmp_max_memberships interfaces
      // (20 by default): one group socket per chunk of networks. Each is handed every datagram
      // sent to the group (IP_MULTICAST_ALL), so each answers only the networks it joined on.
      const chunk = maxMemberships();
      for (let i = 0; i < options.networks.length; i += chunk) {
        const part = options.networks.slice(i, i + chunk);
        const group = createSocket({ type: 'udp4', reuseAddr: true });
        sockets.push(group);
        await bind(group, LLMNR_GROUP, port);
        group.setTTL(255);
        for (const n of part) group.addMembership(LLMNR_GROUP, n.gateway);
        const owned = { names: new Set(part.map((n) => n.name)), countsStrangers: i === 0 };
        group.on('message', (msg: Buffer, from: RemoteInfo) =>
          responder.#handle(group, msg, from, index, buckets, records, owned),
        );
      }
      for (const n of options.networks) {
        const unicast = createSocket({ type: 'udp4', reuseAddr: true });
        sockets.push(unicast);
        await bind(unicast, n.gateway, port);
        unicast.setTTL(255);
        unicast.on('message', onMessage(unicast));
      }
    } catch (error) {
      await responder.stop();
      throw new LlmnrStartError(
        `Expected to bind UDP ${port} on ${LLMNR_GROUP} and every gateway, got ${describeValue(String(error))}`,
        error,
      );
    }
    return responder;
  }

  #handle(
    socket: Socket,
    msg: Buffer,
    from: RemoteInfo,
    index: SubnetIndex<LlmnrNetwork>,
    buckets: TokenBuckets,
    records: LlmnrRecords,
    /** For a group socket: the networks it joined on (and whether it counts unknown sources). */
    owned?: { names: ReadonlySet<string>; countsStrangers: boolean },
  ): void {
    const network = index.find(from.address);
    if (owned && (network ? !owned.names.has(network.name) : !owned.countsStrangers)) return;
    this.#stats.received++;
    if (!network) {
      this.#stats.ignored++;
      return;
    }
    if (!buckets.take(network.name)) {
      this.#stats.limited++;
      return;
    }
    const query = parseLlmnrQuery(msg);
    const answer = query && answerLlmnrQuery(query, records);
    if (!answer) {
      this.#stats.ignored++;
      return;
    }
    socket.send(answer, from.port, from.address, (error) => {
      if (error) this.#stats.sendErrors++;
      else this.#stats.answered++;
    });
  }

  stats(): LlmnrStats {
    return { ...this.#stats };
  }

  /** Closes every socket (leaving the group). Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await Promise.all(
      this.#sockets.map(
        (s) =>
          new Promise<void>((resolve) => {
            try {
              s.close(() => resolve());
            } catch {
              resolve(); // never bound, or already closed
            }
          }),
      ),
    );
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

function bind(socket: Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address, port, exclusive: false }, () => {
      socket.off('error', reject);
      // A send or receive error later must not crash the process: it is counted, not thrown.
      socket.on('error', () => {});
      resolve();
    });
  });
}
