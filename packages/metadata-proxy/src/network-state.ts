import type { Socket } from 'node:net';
import type { Forwarder } from './forward.js';
import type { ResolvedHandler } from './handler.js';
import { TokenBucket } from './limits.js';
import type { NormalizedHardening } from './options.js';
import type { NetworkStats } from './server-types.js';

/** What the server keeps per registered network. */
export interface NetworkState {
  readonly name: string;
  handler: ResolvedHandler | undefined;
  forwarder: Forwarder | undefined;
  readonly sockets: Set<Socket>;
  /** Request rate. */
  bucket: TokenBucket;
  /** New-connection rate. */
  connectBucket: TokenBucket;
  refused: number;
  /** Responses by status class: 2xx, 3xx, 4xx, 5xx. */
  readonly counts: [number, number, number, number];
  /** Bytes written to connections that have closed. */
  closedBytes: number;
  removed: boolean;
}

/** A network as registered: no handler, full rate budgets, nothing counted. */
export function newNetworkState(name: string, hardening: NormalizedHardening): NetworkState {
  return {
    name,
    handler: undefined,
    forwarder: undefined,
    sockets: new Set(),
    ...freshBuckets(hardening),
    refused: 0,
    counts: [0, 0, 0, 0],
    closedBytes: 0,
    removed: false,
  };
}

/** Rate budgets as a new network starts them (also after `clear`). */
export function freshBuckets(hardening: NormalizedHardening): {
  bucket: TokenBucket;
  connectBucket: TokenBucket;
} {
  const p = hardening.perNetwork;
  const now = Date.now();
  return {
    bucket: new TokenBucket(p.requestsPerSecond, p.burst, now),
    connectBucket: new TokenBucket(p.connectionsPerSecond, p.connectionBurst, now),
  };
}

/** Counts a response by its status class for its network (none for an unknown source). */
export function countStatus(state: NetworkState | undefined, status: number): void {
  if (!state) return;
  const index = Math.floor(status / 100) - 2;
  if (index >= 0 && index <= 3) state.counts[index as 0 | 1 | 2 | 3]++;
}

/** A network's counters as `stats()` reports them; bytes include its open connections'. */
export function statsOf(state: NetworkState): NetworkStats {
  let bytesOut = state.closedBytes;
  for (const socket of state.sockets) bytesOut += socket.bytesWritten;
  const [c2, c3, c4, c5] = state.counts;
  return {
    requests: { '2xx': c2, '3xx': c3, '4xx': c4, '5xx': c5 },
    bytesOut,
    openConnections: state.sockets.size,
    refusedConnections: state.refused,
  };
}

/** What the server knows of one client connection. */
export interface Connection {
  network: NetworkState | undefined;
  readonly remoteAddress: string;
  readonly remotePort: number;
  rejected: boolean;
  /** Requests received and not yet answered. */
  active: number;
  /** Requests received in all. */
  requests: number;
}

const kConnection = Symbol('tapnet.metadata-proxy.connection');
type TrackedSocket = Socket & { [kConnection]?: Connection };

/** Attaches a connection's state to its socket. */
export function track(socket: Socket, connection: Connection): void {
  (socket as TrackedSocket)[kConnection] = connection;
}

/** The state of a socket's connection (undefined for one that never passed the gate). */
export function connectionOf(socket: Socket): Connection | undefined {
  return (socket as TrackedSocket)[kConnection];
}
