import { createServer, type Server as HttpServer } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import { ListenError } from './errors.js';
import type { NormalizedHardening } from './options.js';

/** Where the server's connections come from, and how it stops taking them. */
export interface Acceptor {
  /** A TCP address, or `{ host: <socket path>, port: 0 }`. */
  readonly address: { host: string; port: number };
  /** Stops accepting; resolves when the listening socket is closed. */
  stop(): Promise<void>;
}

/**
 * Starts accepting: on a listener the caller already opened (`options.listener`, e.g. a unix
 * socket), or by listening on `host:port` (exclusive; failure → ListenError with the cause).
 */
export async function startAccepting(
  http: HttpServer,
  listener: NetServer | undefined,
  where: { host: string; port: number; authority: string },
): Promise<Acceptor> {
  if (listener) {
    const onConnection = (socket: Socket) => http.emit('connection', socket);
    listener.on('connection', onConnection);
    // Starts Node's header/request timeout checks, which otherwise begin on listen().
    http.emit('listening');
    return {
      address: addressOf(listener),
      stop: () =>
        new Promise<void>((resolve) => {
          listener.off('connection', onConnection);
          if (listener.listening) listener.close(() => resolve());
          else resolve();
          // Stops Node's timeout checks and closes idle connections; the http server itself
          // never listened, so its close reports "not running", which is expected.
          http.close(() => {});
        }),
    };
  }
  const { host, port, authority } = where;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        new ListenError(
          `Could not listen on ${authority}:${port}: ${error.code ?? error.message}`,
          {
            cause: error,
          },
        ),
      );
    };
    http.once('error', onError);
    http.listen({ host, port, exclusive: true }, () => {
      http.off('error', onError);
      resolve();
    });
  });
  return {
    address: addressOf(http),
    stop: () => new Promise<void>((resolve) => http.close(() => resolve())),
  };
}

function addressOf(server: NetServer): { host: string; port: number } {
  const address = server.address();
  if (address === null) return { host: '', port: 0 };
  if (typeof address === 'string') return { host: address, port: 0 };
  return { host: address.address, port: address.port };
}

/** The HTTP server with the hardening's timeouts and header limits. */
export function createHttpServer(h: NormalizedHardening): HttpServer {
  const http = createServer({
    headersTimeout: h.headersTimeoutMs,
    requestTimeout: h.requestTimeoutMs,
    keepAliveTimeout: h.keepAliveTimeoutMs,
    maxHeaderSize: h.maxHeaderSize,
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(h.headersTimeoutMs / 4))),
  });
  // One more than allowed, so a request over the limit is seen (and refused), not truncated.
  http.maxHeadersCount = h.maxHeadersCount + 1;
  return http;
}

/**
 * Closes what is open at shutdown: idle sockets at once; busy ones are left to end themselves
 * (the caller ends each after its last response and calls `onEmpty` when the set is empty),
 * and whatever is left after `deadlineMs` is destroyed.
 */
export async function drain(
  sockets: Set<Socket>,
  busy: (socket: Socket) => boolean,
  deadlineMs: number,
  setOnEmpty: (onEmpty: (() => void) | undefined) => void,
): Promise<void> {
  for (const socket of sockets) if (!busy(socket)) socket.destroy();
  let timer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    if (sockets.size === 0) return resolve();
    setOnEmpty(resolve);
    timer = setTimeout(() => {
      for (const socket of sockets) socket.destroy();
      resolve();
    }, deadlineMs);
  });
  clearTimeout(timer);
  setOnEmpty(undefined);
}
