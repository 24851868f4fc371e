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
