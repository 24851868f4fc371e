import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { createNetns, type Netns } from './netns.js';
import { hubArgs } from './qemu-hub.js';
import { runOk } from './run.js';
import { assertInSandbox } from './sandbox.js';
import { waitFor } from './wait.js';

/**
 * A wire from a pool's TAP to a new TAP inside `client`: one QEMU with no machine opens both
 * TAPs and joins them with its emulated hub. The pool's TAP is opened by QEMU exactly as a
 * guest's would be; frames pass unchanged both ways, so `client` plays the VM.
 */
export async function tapWire(options: {
  /** The pool's TAP (in the sandbox), by name. */
  poolTap: string;
  client: Netns;
  /** Name of the VM's end inside `client`; default `eth0`. */
  clientDev?: string;
  clientMac?: string;
}): Promise<{ qemu: ResultPromise }> {
  assertInSandbox();
  const clientDev = options.clientDev ?? 'eth0';
  const temp = `w${Math.random().toString(36).slice(2, 10)}`;
  await runOk(['ip', 'tuntap', 'add', 'dev', temp, 'mode', 'tap']);
  await runOk(['ip', 'link', 'set', temp, 'up']); // so that NO-CARRIER shows until QEMU attaches
  const qemu = execa('qemu-system-x86_64', hubArgs(options.poolTap, temp), {
    reject: false,
    all: true,
  });
  let output = '';
  qemu.all?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  // Attached once the temporary TAP reports a carrier (QEMU holds its fd).
  await waitFor(
    async () => {
      if (qemu.exitCode !== null) throw new Error(`qemu exited: ${output}`);
      const flags = await runOk(['ip', '-o', 'link', 'show', 'dev', temp]);
      return !flags.includes('NO-CARRIER');
    },
    { what: `QEMU to open ${options.poolTap} and ${temp}`, timeout: 20_000, seen: () => output },
  );
  // The TAP keeps QEMU's fd when it moves: the client's end now lives in the client namespace.
  await runOk(['ip', 'link', 'set', temp, 'netns', options.client.name]);
  await options.client.runOk(['ip', 'link', 'set', temp, 'name', clientDev]);
  if (options.clientMac)
    await options.client.runOk(['ip', 'link', 'set', clientDev, 'address', options.clientMac]);
  await options.client.runOk(['ip', 'link', 'set', clientDev, 'up']);
  // Wrapped: a subprocess is a thenable, and returning it bare would wait for QEMU to exit.
  return { qemu };
}

export interface HttpReply {
  status: number;
  body: string;
}

export interface HttpGetOptions {
  /** Default `169.254.169.254`. */
  host?: string;
  /** Default 80. */
  port?: number;
  /** Reuse this client's one keep-alive connection (default: a new connection per request). */
  keepAlive?: boolean;
  /** Fail with code `ETIMEDOUT` when the socket stays idle this long; default 30 s. */
  timeout?: number;
}

/** An HTTP client process running inside a namespace: requests go out of the VM's side. */
export interface HttpClient {
  /** Resolves with the reply; rejects with an Error whose `code` is the socket error's. */
  get(path?: string, options?: HttpGetOptions): Promise<HttpReply>;
  /** Idle keep-alive connections the client holds (0 or 1). */
  idleConnections(): Promise<number>;
  /** Ends the client process; idempotent. */
  close(): Promise<void>;
}

// Runs inside the namespace: JSON requests in on stdin, one JSON line out per request, in
// whatever order they complete (requests run concurrently).
const CLIENT_SCRIPT = `
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const send = (message) => process.stdout.write(JSON.stringify(message) + '\\n');
for await (const line of createInterface({ input: process.stdin })) {
  const { id, op, host, port, path, keepAlive, timeout } = JSON.parse(line);
  if (op === 'idle') {
    send({ id, idle: Object.values(agent.freeSockets).flat().length });
    continue;
  }
  let done = false;
  const fail = (error) => {
    if (done) return;
    done = true;
    send({ id, error: { code: error.code, message: error.message } });
  };
  const req = request({ host, port, path, agent: keepAlive ? agent : false }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => { body += chunk; });
    res.on('error', fail);
    res.on('end', () => {
      if (done) return;
      done = true;
      send({ id, status: res.statusCode, body });
    });
  });
  req.on('error', fail);
  // A hang becomes a failure that says so (a test's own deadline would say less).
  req.setTimeout(timeout, () => {
    const error = new Error('no reply within ' + timeout + ' ms');
    error.code = 'ETIMEDOUT';
    req.destroy(error);
  });
  req.end();
}
agent.destroy();
`;

interface Answer {
  id: number;
  status?: number;
  body?: string;
  idle?: number;
  error?: { code?: string; message: string };
}

/**
 * Starts one long-lived HTTP client process inside `ns` (`ip netns exec … node`), so many
 * requests cost one process, and a keep-alive connection can outlive a request.
 */
export function startHttpClient(ns: Netns): HttpClient {
  const child = execa(
    'ip',
    ['netns', 'exec', ns.name, process.execPath, '--input-type=module', '-e', CLIENT_SCRIPT],
    { reject: false, stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: false },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const waiting = new Map<number, (answer: Answer) => void>();
  let nextId = 0;
  let exited: Error | undefined;
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    const answer = JSON.parse(line) as Answer;
    waiting.get(answer.id)?.(answer);
    waiting.delete(answer.id);
  });
  void child.then((result) => {
    exited = new Error(
      `the HTTP client in ${ns.name} exited (${result.exitCode ?? result.signal}): ${stderr}`,
    );
    for (const [id, settle] of waiting) settle({ id, error: { message: exited.message } });
    waiting.clear();
  });
  const ask = (message: Record<string, unknown>): Promise<Answer> => {
    if (exited) return Promise.reject(exited);
    const id = nextId++;
    return new Promise((resolve) => {
      waiting.set(id, resolve);
      child.stdin!.write(`${JSON.stringify({ id, ...message })}\n`);
    });
  };
  let closed: Promise<void> | undefined;
  return {
    async get(path = '/', options = {}) {
      const answer = await ask({
        host: options.host ?? '169.254.169.254',
        port: options.port ?? 80,
        path,
        keepAlive: options.keepAlive ?? false,
        timeout: options.timeout ?? 30_000,
      });
      if (answer.error) {
        const error = new Error(
          `GET ${path} from ${ns.name} failed: ${answer.error.message}`,
        ) as Error & { code?: string };
        if (answer.error.code) error.code = answer.error.code;
        throw error;
      }
      return { status: answer.status ?? 0, body: answer.body ?? '' };
    },
    async idleConnections() {
      const answer = await ask({ op: 'idle' });
      if (answer.error) throw new Error(answer.error.message);
      return answer.idle ?? 0;
    },
    close() {
      closed ??= (async () => {
        child.stdin?.end();
        child.kill('SIGKILL');
        await child;
      })();
      return closed;
    },
  };
}

/** Integer value of a dotted IPv4 address. */
function toInt(address: string): number {
  return address.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
}

function toDotted(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** The last usable address of `subnet`, or the one before it when that is the gateway. */
export function clientAddress(subnet: string, gateway: string): string {
  const [base = '', length = '32'] = subnet.split('/');
  const size = 2 ** (32 - Number(length));
  let address = toInt(base) + size - 2;
  if (toDotted(address) === gateway) address -= 1;
  if (address <= toInt(base)) throw new Error(`no client address left in ${subnet}`);
  return toDotted(address);
}

export interface TapPeerOptions {
  /** The pool's TAP to join, by name (e.g. `network.name`). */
  tap: string;
  /** The network's subnet, e.g. `10.231.3.0/24`. */
  subnet: string;
  /** The host's address on the TAP: the peer's default route. */
  gateway: string;
  /** The VM's MAC (`network.mac`), as `qemuArgs()` would give the guest. */
  mac?: string;
  /** The peer's address inside `subnet`; default: `clientAddress(subnet, gateway)`. */
  address?: string;
  /** Prefix of the namespace's name; default `vm`. */
  prefix?: string;
}

/** A VM stand-in on a pool's TAP: a namespace joined to the TAP by QEMU, static address. */
export interface TapPeer {
  readonly ns: Netns;
  /** The peer's address (what the host sees as the source). */
  readonly address: string;
  readonly qemu: ResultPromise;
  /** GET from the VM's side (one long-lived client process, started on first use). */
  get(path?: string, options?: HttpGetOptions): Promise<HttpReply>;
  /** The peer's HTTP client (started on first use). */
  http(): HttpClient;
  /** Ends the client and QEMU and deletes the namespace; idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A VM stand-in for a network of a pool: a fresh namespace whose `eth0` is joined to the
 * pool's TAP (see `tapWire`), carries the network's MAC and an address in its subnet, with a
 * default route via the gateway. Traffic from it reaches the host exactly as a guest's would:
 * through the TAP, the firewall and the pool's services.
 */
export async function createTapPeer(options: TapPeerOptions): Promise<TapPeer> {
  const ns = await createNetns(options.prefix ?? 'vm');
  let qemu: ResultPromise | undefined;
  let client: HttpClient | undefined;
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      await client?.close();
      if (qemu) {
        qemu.kill('SIGKILL');
        await qemu;
      }
      await ns.delete();
    })();
    return closed;
  };
  try {
    const address = options.address ?? clientAddress(options.subnet, options.gateway);
    const length = options.subnet.split('/')[1];
    ({ qemu } = await tapWire({
      poolTap: options.tap,
      client: ns,
      clientDev: 'eth0',
      ...(options.mac ? { clientMac: options.mac } : {}),
    }));
    await ns.runOk(['ip', 'addr', 'add', `${address}/${length}`, 'dev', 'eth0']);
    await ns.runOk(['ip', 'route', 'add', 'default', 'via', options.gateway]);
    const wire = qemu;
    const http = () => {
      client ??= startHttpClient(ns);
      return client;
    };
    return {
      ns,
      address,
      qemu: wire,
      http,
      get: (path, getOptions) => http().get(path, getOptions),
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
