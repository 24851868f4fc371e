/**
 * The connection admission gate: which new TCP connection the server keeps, as a pure function
 * of counts, so every ordering decision is table-tested without sockets.
 *
 * Why it is shaped this way: a network that is refused must not be able to hold anything (a
 * refused socket is destroyed at once by the caller, never kept half-open), and a network at its
 * own cap must not be able to take the global table from the others. Each registered network is
 * guaranteed `share` sockets (its cap, or an equal part of the global table when the caps of all
 * networks add up to more than it); sockets above the share are lent only from what no other
 * network has reserved.
 */

export type Refusal =
  /** The server is closing. */
  | 'closing'
  /** The network holds its own cap of sockets. */
  | 'network-cap'
  /** The network opened new connections faster than its rate. */
  | 'network-rate'
  /** Above its share, and the global table has nothing left that others have not reserved. */
  | 'global';

export type Admission = { admit: true } | { admit: false; reason: Refusal; status: 429 | 503 };

export interface NetworkLoad {
  /** Sockets the network holds now (admitted, not yet closed). */
  held: number;
  /** The network's own cap (`perNetwork.maxConnections`). */
  cap: number;
  /** Sockets the network is guaranteed whatever the others do (see `shareOf`). */
  share: number;
  /** Whether the network's new-connection bucket has a token now (it is taken on admission). */
  rateAllows: boolean;
}

export interface AdmissionInput {
  closing: boolean;
  /** Sockets the server holds now, every network and unknown sources together. */
  total: number;
  /** The global cap (`maxConnections`). */
  maxConnections: number;
  /**
   * Sockets reserved for the other networks and not in use by them: the sum over each other
   * network of `max(0, share - held)`. Only read when the connection would borrow.
   */
  reservedForOthers: () => number;
  /** The connection's network; undefined for a source no network contains (it gets 403 later). */
  network: NetworkLoad | undefined;
}

/**
 * The socket share guaranteed to each of `networks` networks: its cap, or an equal part of the
 * global table when the caps add up to more than the table.
 */
export function shareOf(cap: number, maxConnections: number, networks: number): number {
  if (maxConnections === Number.POSITIVE_INFINITY) return cap;
  return Math.min(cap, Math.floor(maxConnections / Math.max(1, networks)));
}

/** Decides one new connection. Ordered checks: closing, own cap, own rate, share, global. */
export function admitConnection(input: AdmissionInput): Admission {
  if (input.closing) return { admit: false, reason: 'closing', status: 503 };
  const n = input.network;
  if (n !== undefined) {
    if (n.held >= n.cap) return { admit: false, reason: 'network-cap', status: 429 };
    if (!n.rateAllows) return { admit: false, reason: 'network-rate', status: 429 };
    // Within its guaranteed share a network is admitted whatever the others hold.
    if (n.held < n.share) return { admit: true };
  }
  // Borrowing (above the share, or no network at all): only from capacity nobody reserved.
  if (input.total + input.reservedForOthers() >= input.maxConnections) {
    return { admit: false, reason: 'global', status: 503 };
  }
  return { admit: true };
}
