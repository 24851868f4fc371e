import { handlerFromSource } from '../../metadata-source.js';
import { resolveGroup } from '../../serve/listen.js';
import { type LogFormat, Logger } from '../../serve/log.js';
import { type Serving, serve } from '../../serve/start.js';
import { version } from '../main.js';
import type { Output } from '../output.js';
import type { Values } from '../parse.js';
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
