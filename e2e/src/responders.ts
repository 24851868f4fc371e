// Host-side counterparts of the guest's probes, run in the namespace the test runs in.
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UdpDatagram {
  /** The probe's name (the TFTP file the guest asked for). */
  name: string;
  from: string;
  fromPort: number;
}

export interface UdpResponder {
  port: number;
  /** Every probe request received, in order. */
  received: UdpDatagram[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Answers the guest's `probeUdp` (a TFTP read request) with one short TFTP DATA block holding
 * `udp-ok name=<probe> from=<source address>`, so the guest sees a reply and the test sees who
 * asked. Port 0 picks a free port.
 */
export async function startUdpResponder(options: {
  host: string;
  port?: number;
  /** Called with every probe request as it arrives (after it was added to `received`). */
  onRequest?: (datagram: UdpDatagram) => void;
}): Promise<UdpResponder> {
  const socket: Socket = createSocket(options.host.includes(':') ? 'udp6' : 'udp4');
  const received: UdpDatagram[] = [];
  socket.on('message', (message, remote) => {
    // RRQ: opcode 1, filename NUL, mode NUL (options ignored: a DATA reply refuses them).
    if (message.length < 4 || message.readUInt16BE(0) !== 1) return;
    const end = message.indexOf(0, 2);
    const name = message.subarray(2, end < 0 ? message.length : end).toString('utf8');
    const datagram = { name, from: remote.address, fromPort: remote.port };
    received.push(datagram);
    options.onRequest?.(datagram);
    const text = Buffer.from(`udp-ok name=${name} from=${remote.address}\n`);
    const data = Buffer.concat([Buffer.from([0, 3, 0, 1]), text.subarray(0, 512)]);
    socket.send(data, remote.port, remote.address);
  });
  socket.bind(options.port ?? 0, options.host);
  await once(socket, 'listening');
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  };
  return {
    port: (socket.address() as AddressInfo).port,
    received,
    close,
    [Symbol.asyncDispose]: close,
  };
}

export interface ScenarioResult {
  /** The scenario's stdout+stderr as the guest POSTed it to `/result`. */
  output: string;
  /** The scenario's exit code (`X-Tapnet-Exit`). */
  exitCode: number;
}

export interface ScenarioServer {
  /** Resolves with the first result the guest POSTs. */
  result: Promise<ScenarioResult>;
  /** `METHOD path` of every request, in order. */
  requests: string[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The guest protocol's metadata side as a node:http request listener: `GET /scenario` answers
 * `scenario`, `POST /result` records the output; `extra` answers other paths (a guest's
 * identity, say). For a stand-in metadata service, or to put inside a real handler.
 */
export function scenarioListener(
  scenario: string,
  extra: Record<string, string> = {},
): {
  listener: (req: IncomingMessage, res: ServerResponse) => void;
  result: Promise<ScenarioResult>;
  requests: string[];
} {
  const requests: string[] = [];
  let deliver: (result: ScenarioResult) => void = () => {};
  const result = new Promise<ScenarioResult>((resolve) => {
    deliver = resolve;
  });
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://guest').pathname;
    requests.push(`${req.method} ${path}`);
    if (req.method === 'GET' && path === '/scenario') {
      res.writeHead(200, { 'content-type': 'text/x-shellscript' }).end(scenario);
    } else if (req.method === 'POST' && path === '/result') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        const exitCode = Number(req.headers['x-tapnet-exit'] ?? Number.NaN);
        deliver({ output: Buffer.concat(chunks).toString('utf8'), exitCode });
      });
    } else if (req.method === 'GET' && Object.hasOwn(extra, path)) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(extra[path]);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  };
  return { listener, result, requests };
}

/** `scenarioListener` on its own HTTP server, listening on a unix socket or host:port. */
export async function serveScenario(
  listen: { path: string } | { host: string; port: number },
  scenario: string,
  extra: Record<string, string> = {},
): Promise<ScenarioServer> {
  const { listener, result, requests } = scenarioListener(scenario, extra);
  const server: Server = createServer(listener);
  server.listen(listen);
  await once(server, 'listening');
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { result, requests, close, [Symbol.asyncDispose]: close };
}
