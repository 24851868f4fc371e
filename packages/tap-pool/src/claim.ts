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
  // Whoever asks is told the holder's pid, for error messages and `tapnet status`.
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.end(`${process.pid}\n`);
  });
  try {
    await listen(server, address);
  } catch (error) {
    server.close();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new PrefixInUseError(name, (await prefixHolder(name, options)) ?? 0, { cause: error });
    }
    throw new StateError(`Could not claim the prefix \`${name}\``, { cause: error });
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
export function prefixHolder(
  prefix: string,
  options: ClaimOptions & { timeout?: number } = {},
): Promise<number | undefined> {
  const address = claimAddress(validatePrefix(prefix), options.scope);
  return new Promise((resolve) => {
    let text = '';
    const socket = createConnection({ path: address });
    const done = (value: number | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => done(0), options.timeout ?? 2000);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > 32) done(0);
    });
    socket.on('end', () => {
      const pid = Number(text.trim());
      done(Number.isInteger(pid) && pid > 0 ? pid : 0);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // Nobody bound there: the prefix is free. Anything else: held, holder unknown.
      done(error.code === 'ECONNREFUSED' || error.code === 'ENOENT' ? undefined : 0);
    });
  });
}
