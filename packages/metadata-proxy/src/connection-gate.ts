import type { Socket } from 'node:net';
import { admitConnection, shareOf } from './admission.js';
import { rawResponse } from './http-util.js';
import type { TokenBucket } from './limits.js';
import type { NormalizedHardening } from './options.js';

/** What the gate needs of a network: its held sockets, connection bucket and refusal count. */
export interface GatedNetwork {
  readonly sockets: Set<Socket>;
  connectBucket: TokenBucket;
  refused: number;
}

export interface GateInput {
  socket: Socket;
  /** The connection's network; undefined for a source no network contains. */
  network: GatedNetwork | undefined;
  /** Every socket the server holds (admitted, not yet closed). */
  all: Set<Socket>;
  /** The registered networks (walked only when a connection would borrow). */
  networks: () => Iterable<GatedNetwork>;
  networkCount: number;
  hardening: NormalizedHardening;
  closing: boolean;
  /** Whether the connection has started a request (read when the first-byte timer fires). */
  started: () => boolean;
  /** Called for a refused connection, with the status it was answered. */
  onRefused: (status: 429 | 503) => void;
}

/**
 * The effectful side of admission (the decision is `admitConnection`): a refused socket gets a
 * best-effort short answer and is destroyed at once, in no set and never half-open, and is
 * charged to its network; an admitted one joins the sets, takes a connection token, and is
 * destroyed if it sends nothing within `firstByteTimeoutMs` (Node's header timeout only watches
 * connections that sent something). Returns the first-byte timer of an admitted socket, for the
 * caller to clear on close, or undefined when the socket was refused.
 */
export function gateConnection(input: GateInput): NodeJS.Timeout | undefined {
  const { socket, network, hardening: h } = input;
  const now = Date.now();
  const cap = h.perNetwork.maxConnections;
  const share = shareOf(cap, h.maxConnections, input.networkCount);
  const decision = admitConnection({
    closing: input.closing,
    total: input.all.size,
    maxConnections: h.maxConnections,
    reservedForOthers: () => {
      let reserved = 0;
      for (const other of input.networks()) {
        if (other !== network) reserved += Math.max(0, share - other.sockets.size);
      }
      return reserved;
    },
    network: network && {
      held: network.sockets.size,
      cap,
      share,
      rateAllows: network.connectBucket.ready(now),
    },
  });
  if (!decision.admit) {
    if (network) network.refused++;
    input.onRefused(decision.status);
    socket.on('error', () => {});
    // The answer is a few bytes, written synchronously into the socket buffer; then the socket
    // goes, whatever the peer does.
    socket.end(rawResponse(decision.status, 'Retry-After: 1\r\n'));
    socket.destroy();
    return undefined;
  }
  network?.connectBucket.take(now);
  input.all.add(socket);
  network?.sockets.add(socket);
  const timer = setTimeout(() => {
    if (!input.started() && socket.bytesRead === 0) socket.destroy();
  }, h.firstByteTimeoutMs);
  timer.unref();
  return timer;
}
