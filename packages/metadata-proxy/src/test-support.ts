// Helpers for this package's tests (not exported).
import { connect, type Socket } from 'node:net';
import { Agent, request } from 'undici';

export interface RawOptions {
  port: number;
  host?: string;
  localAddress?: string;
}

/** A raw TCP connection that collects everything it receives. */
export interface RawConnection {
  socket: Socket;
  received(): string;
  closed: Promise<void>;
  /** Resolves with all received text once it matches `pattern` or the peer closed. */
  until(pattern: RegExp): Promise<string>;
}

export function rawConnect(options: RawOptions): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      port: options.port,
      host: options.host ?? '127.0.0.1',
      localAddress: options.localAddress,
    });
    let text = '';
    let isClosed = false;
    const waiters = new Set<() => void>();
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      for (const w of waiters) w();
    });
    socket.on('error', () => {});
    socket.once('close', () => {
      isClosed = true;
      for (const w of waiters) w();
    });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve({
        socket,
        received: () => text,
        closed,
        until: (pattern) =>
          new Promise((done) => {
            const check = () => {
              if (pattern.test(text) || isClosed) {
                waiters.delete(check);
                done(text);
              }
            };
            waiters.add(check);
            check();
          }),
      });
    });
    socket.once('error', reject);
  });
}

/** Sends raw bytes on a fresh connection and resolves with everything received until it closes. */
export async function rawExchange(options: RawOptions, data: string | Buffer): Promise<string> {
  const c = await rawConnect(options);
  c.socket.write(data);
  await c.closed;
  return c.received();
}

/** The status code of the first response in a raw reply ('' when none). */
export function statusOf(raw: string): number {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(raw);
  return match ? Number(match[1]) : 0;
}

export interface SimpleResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An HTTP request through undici on a fresh connection, optionally from a given source address. */
export async function httpRequest(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    localAddress?: string;
  } = {},
): Promise<SimpleResponse> {
  // undici takes the source address as a client option (a `connect` option is ignored).
  const agent = new Agent(options.localAddress ? { localAddress: options.localAddress } : {});
  try {
    const res = await request(url, {
      dispatcher: agent,
      method: (options.method ?? 'GET') as 'GET',
      headers: options.headers,
      body: options.body,
    });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  } finally {
    agent.destroy().catch(() => {});
  }
}
