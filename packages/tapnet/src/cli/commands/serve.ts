import { readFile, stat } from 'node:fs/promises';
import { handlerFromSource } from '../../metadata-source.js';
import { isLoopback, parseAddress, resolveGroup } from '../../serve/listen.js';
import { type LogFormat, Logger } from '../../serve/log.js';
import { type Serving, serve } from '../../serve/start.js';
import { version } from '../main.js';
import type { Output } from '../output.js';
import { UsageError, type Values } from '../parse.js';
import { poolOptionsOf } from '../pool-options.js';
import { trapStopSignals } from '../signals.js';
import { socketPathOf } from '../socket.js';
import { checkUplink } from '../uplink.js';

/** `tapnet serve`: the pool and its control API until SIGINT, SIGTERM or SIGHUP. */
export async function serveCommand(values: Values, _out: Output): Promise<number> {
  const options = poolOptionsOf(values);
  const logger = new Logger((values['log-format'] ?? 'text') as LogFormat, {
    requests: !values.quiet,
  });
  // Everything that can be refused is refused before a device is made.
  const defaultHandler =
    values.metadata === undefined ? undefined : await handlerFromSource(values.metadata);
  const gid = values.group === undefined ? undefined : await resolveGroup(values.group);
  if (typeof options.uplink === 'string') await checkUplink(options.uplink, 'serve');
  const socket = socketPathOf(values);
  const tcp = await tcpOf(values);
  const metricsAddress =
    values['metrics-address'] === undefined
      ? undefined
      : addressOf(values['metrics-address'], 'metrics-address');
  // From here until everything is disposed, a stop signal (a hang-up too) cannot kill the
  // process: one that arrives while the pool starts up disposes it once it is made.
  const trap = trapStopSignals();
  try {
    const serving: Serving = await serve({
      pool: options,
      socket,
      ...(gid !== undefined && { gid }),
      ...(defaultHandler && { defaultHandler }),
      ...(values['handler-root'] !== undefined && { handlerRoot: values['handler-root'] }),
      ...(tcp && { tcp }),
      ...(metricsAddress && { metricsAddress }),
      logger,
      version: version(),
    });
    try {
      const pool = serving.daemon.pool;
      logger.note('serving', { socket, prefix: pool.prefix, size: pool.size, pid: process.pid });
      const signal = await trap.stopped;
      logger.note('stopping', { signal });
    } finally {
      await serving.close();
    }
    logger.note('stopped', { prefix: serving.daemon.pool.prefix });
  } finally {
    trap.release();
  }
  return 0;
}

function addressOf(text: string, option: 'listen' | 'metrics-address') {
  const address = parseAddress(text);
  if (!address)
    throw new UsageError(
      `Expected --${option} to be HOST:PORT (e.g. 127.0.0.1:9464), got \`${text}\``,
      'serve',
    );
  return address;
}

/**
 * The control API on TCP: loopback only, and only with a token from a file nobody else can read
 * (whoever has the token may acquire networks, as the socket's group may).
 */
async function tcpOf(
  values: Values,
): Promise<{ host: string; port: number; token: string } | undefined> {
  if (values.listen === undefined) {
    if (values['token-file'] !== undefined)
      throw new UsageError('--token-file goes with --listen', 'serve');
    return undefined;
  }
  const address = addressOf(values.listen, 'listen');
  if (!isLoopback(address.host))
    throw new UsageError(
      `Expected --listen on a loopback address (127.0.0.1, ::1), got \`${address.host}\``,
      'serve',
    );
  const file = values['token-file'];
  if (file === undefined)
    throw new UsageError(
      'Expected --token-file with --listen: the TCP API is never open without a token',
      'serve',
    );
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile())
    throw new UsageError(`Expected --token-file to name a file, got \`${file}\``, 'serve');
  if (info.mode & 0o077)
    throw new UsageError(
      `Expected --token-file to be readable by its owner only (chmod 600), got mode ${(info.mode & 0o777).toString(8)}`,
      'serve',
    );
  const token = (await readFile(file, 'utf8')).trim();
  if (token.length < 16 || /\s/.test(token))
    throw new UsageError(
      'Expected --token-file to hold one token of at least 16 characters, no spaces',
      'serve',
    );
  return { ...address, token };
}
