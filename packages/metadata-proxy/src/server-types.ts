// The public shapes of a MetadataServer's stats and events.

export type StatusClass = '2xx' | '3xx' | '4xx' | '5xx';

export interface NetworkStats {
  requests: Record<StatusClass, number>;
  /** Bytes written to this network's connections (heads and bodies). */
  bytesOut: number;
  openConnections: number;
  /** Connections refused at accept (own cap, connection rate, or no share left): destroyed at once. */
  refusedConnections: number;
}

/** Payload of the `error` event. */
export interface MetadataErrorEvent {
  network: string;
  error: unknown;
}

/** Payload of the `request` event, emitted when a response is done. */
export interface MetadataRequestEvent {
  network: string | undefined;
  method: string;
  url: string;
  status: number;
  remoteAddress: string;
  /** From the request's arrival to its response's end (or the connection's close), ms. */
  durationMs: number;
}

/** The events a MetadataServer emits and their arguments: `on`/`once`/`off` check both. */
export interface MetadataServerEvents {
  error: [MetadataErrorEvent];
  request: [MetadataRequestEvent];
}
