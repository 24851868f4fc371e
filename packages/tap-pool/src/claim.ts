// The host-wide claim on a prefix: an abstract unix socket `\0tapnet/<prefix>` that the live pool
// keeps bound. Binding is atomic (the second bind fails with EADDRINUSE whatever state folder
// each caller uses), the kernel releases it when the process dies (a crash frees the prefix),
// and abstract sockets belong to the network namespace, exactly like the TAPs and firewall tables
// the prefix names. Whoever holds it may create or remove what the prefix names; nobody else.
import { createConnection, createServer, type Server } from 'node:net';
import { PrefixInUseError, StateError } from './errors.js';
import { validatePrefix } from './options.js';

export interface PrefixClaim {
  readonly prefix: string;
  /** The extra key given to claimPrefix, if any (tests with fake hosts). */
  readonly scope: string | undefined;
  readonly released: boolean;
  /** Gives the prefix up; idempotent. */
  release(): Promise<void>;
}

export interface ClaimOptions {
  /**
   * What the claim is for. A `cleanup` claim is short: another claimPrefix that meets one waits
   * for it (up to `wait` ms) instead of failing, so a create never fails because a cleanup of the
   * same prefix happened to run. Default `pool`.
   */
  role?: 'pool' | 'cleanup';
  /** How long to wait for a cleanup that holds the prefix, in ms; default 30 000. */
  wait?: number;
  /**
   * Keeps this claim apart from real pools' claims of the same prefix: for tests that drive a
   * fake host in a shared network namespace. Default none (the real, host-wide claim).
   */
  scope?: string;
}

/** The abstract socket address of a prefix's claim (the leading NUL makes it abstract). */
export function claimAddress(prefix: string, scope?: string): string {
  return scope === undefined ? `\0tapnet/${prefix}` : `\0tapnet/${scope}/${prefix}`;
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Claims `prefix` for this process until `release()` or exit. Throws PrefixInUseError (naming
 * the holder's pid when it answers) when another claim holds it, this process's own included.
 */
export async function claimPrefix(
  prefix: string,
  options: ClaimOptions = {},
): Promise<PrefixClaim> {
  const name = validatePrefix(prefix);
  const scope = options.scope;
  const address = claimAddress(name, scope);
  const role = options.role ?? 'pool';
  const deadline = performance.now() + (options.wait ?? 30_000);
  let server: Server;
  let pause = 5;
  for (;;) {
    // Whoever asks is told the holder's pid and role, for waiting, errors and reports.
    server = createServer((socket) => {
      socket.on('error', () => {});
      socket.end(`${process.pid} ${role}\n`);
    });
    try {
      await listen(server, address);
      break;
    } catch (error) {
      server.close();
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
        throw new StateError(`Could not claim the prefix \`${name}\``, { cause: error });
      }
      // No answer (undefined): the holder is letting go, or has bound and does not listen yet.
      const holder = await ask(address, 2000);
      if (holder !== undefined && holder.role !== 'cleanup') {
        throw new PrefixInUseError(name, holder.pid, { cause: error });
      }
      if (performance.now() > deadline) {
        throw new PrefixInUseError(name, holder?.pid ?? 0, { cause: error });
      }
      // A cleanup holds it for a moment: try again, backing off up to 100 ms between tries.
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 100);
    }
  }
  // The claim must not keep a process alive that has nothing else to do.
  server.unref();
  let closing: Promise<void> | undefined;
  return {
    prefix: name,
    scope,
    get released() {
      return closing !== undefined;
    },
    release() {
      closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return closing;
    },
  };
}

/**
 * The pid of the process holding `prefix`'s claim, 0 when it is held but the holder did not say
 * within `timeout` ms, undefined when it is free. For reports only: to act on a prefix, claim it.
 */
export async function prefixHolder(
  prefix: string,
  options: ClaimOptions & { timeout?: number } = {},
): Promise<number | undefined> {
  const holder = await ask(
    claimAddress(validatePrefix(prefix), options.scope),
    options.timeout ?? 2000,
  );
  return holder?.pid;
}

/** Connects to a claim and reads `<pid> <role>`; undefined when nobody holds it. */
function ask(address: string, timeout: number): Promise<{ pid: number; role: string } | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const socket = createConnection({ path: address });
    const done = (value: { pid: number; role: string } | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => done({ pid: 0, role: 'unknown' }), timeout);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > 64) done({ pid: 0, role: 'unknown' });
    });
    socket.on('end', () => {
      const [pid, role] = text.trim().split(' ');
      const number = Number(pid);
      done({ pid: Number.isInteger(number) && number > 0 ? number : 0, role: role ?? 'unknown' });
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // Nobody bound there: the prefix is free. Anything else: held, holder unknown.
      done(
        error.code === 'ECONNREFUSED' || error.code === 'ENOENT'
          ? undefined
          : { pid: 0, role: 'unknown' },
      );
    });
  });
}
