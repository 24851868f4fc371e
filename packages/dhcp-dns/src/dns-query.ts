import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { type DnsResponse, decodeResponse, encodeQuery } from './dns-message.js';

/** Sends one UDP DNS question to `server`:`port` and resolves with the matching answer, or rejects on timeout. */
export function queryDns(
  server: string,
  name: string,
  type: number,
  options: { port?: number; timeoutMs?: number } = {},
): Promise<DnsResponse> {
  const id = randomInt(0, 0x10000);
  const socket = createSocket(isIPv6(server) ? 'udp6' : 'udp4');
  return new Promise<DnsResponse>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        finish(new Error(`no DNS answer from ${server} within ${options.timeoutMs ?? 1000} ms`)),
      options.timeoutMs ?? 1000,
    );
    let done = false;
    function finish(error: Error | undefined, response?: DnsResponse): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      if (error) reject(error);
      else resolve(response!);
    }
    socket.on('error', (error) => finish(error));
    socket.on('message', (message) => {
      try {
        const response = decodeResponse(message);
        if (response.id === id) finish(undefined, response);
      } catch {
        // not ours or malformed: keep waiting
      }
    });
    // Connected, so an ICMP port unreachable (nothing listening yet) fails the query at once
    // with ECONNREFUSED instead of waiting out the timeout, and only `server` can answer.
    // dgram hands a failed connect to this callback (not to 'error'); the deadline may also have
    // closed the socket while it was connecting.
    socket.connect(options.port ?? 53, server, (error?: Error) => {
      if (error) finish(error);
      else if (!done) socket.send(encodeQuery(id, name, type));
    });
  });
}

export interface QueryManyOptions {
  port?: number;
  /** How long each window of queries waits for its answers. */
  timeoutMs?: number;
  /**
   * Queries in flight at once. The answers wait in one socket's receive buffer (~200 KiB by
   * default, several hundred small answers): a window well below that loses none.
   */
  window?: number;
}

/**
 * Asks every server in `servers` the same question from one UDP socket, a window at a time, and
 * resolves with the answers by server (a server that did not answer within its window's
 * `timeoutMs` is missing). One socket and one packet per server, however many servers: asking
 * 4096 gateways is 4096 datagrams, not 4096 sockets. All servers are of one address family.
 */
export async function queryDnsMany(
  servers: readonly string[],
  name: string,
  type: number,
  options: QueryManyOptions = {},
): Promise<Map<string, DnsResponse>> {
  const answers = new Map<string, DnsResponse>();
  if (servers.length === 0) return answers;
  const timeoutMs = options.timeoutMs ?? 1000;
  const window = options.window ?? 128;
  const port = options.port ?? 53;
  const socket = createSocket(isIPv6(servers[0]!) ? 'udp6' : 'udp4');
  /** Per server in the current window: the id its query carries. */
  const waiting = new Map<string, number>();
  let windowDone: (() => void) | undefined;
  socket.on('message', (message, from) => {
    const id = waiting.get(from.address);
    if (id === undefined || from.port !== port) return;
    try {
      const response = decodeResponse(message);
      if (response.id !== id) return;
      waiting.delete(from.address);
      answers.set(from.address, response);
      if (waiting.size === 0) windowDone?.();
    } catch {
      // malformed: not an answer
    }
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // A send error (no route, say) is that server's missing answer, not a failure of all.
    socket.on('error', () => {});
    for (let at = 0; at < servers.length; at += window) {
      const batch = servers.slice(at, at + window);
      waiting.clear();
      for (const server of batch) waiting.set(server, randomInt(0, 0x10000));
      const done = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        windowDone = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      for (const server of batch) {
        socket.send(encodeQuery(waiting.get(server)!, name, type), port, server, () => {});
      }
      await done;
    }
  } finally {
    windowDone = undefined;
    waiting.clear();
    socket.close();
  }
  return answers;
}
