import { unlink } from 'node:fs/promises';
import type { MetadataHandler } from '@tapnet/metadata-proxy';
import { normalizeLimits } from '../limits.js';
import type { PoolOptions } from '../options.js';
import { Pool } from '../pool.js';
import { Daemon } from './daemon.js';
import { listenUnix } from './listen.js';
import type { Logger } from './log.js';
import { createApiServer } from './server.js';

export interface ServeOptions {
  pool: PoolOptions;
  socket: string;
  /** The socket's group (gid); default the daemon's. */
  gid?: number;
  defaultHandler?: MetadataHandler;
  handlerRoot?: string;
  logger: Logger;
  version: string;
  holderIntervalMs?: number;
}

export interface Serving {
  daemon: Daemon;
  socket: string;
  /** Stops answering, ends event streams, releases every network, disposes the pool. Idempotent. */
  close(): Promise<void>;
}

/** Creates the pool and serves the control API on the socket; undone if any step fails. */
export async function serve(options: ServeOptions): Promise<Serving> {
  const { logger } = options;
  const pool = await Pool.create(options.pool);
  const metrics = pool.metrics();
  const daemon = new Daemon(pool, {
    connections: normalizeLimits(options.pool.limits).connections,
    metrics,
    ...(options.defaultHandler && { defaultHandler: options.defaultHandler }),
    ...(options.handlerRoot !== undefined && { handlerRoot: options.handlerRoot }),
    ...(options.holderIntervalMs !== undefined && { holderIntervalMs: options.holderIntervalMs }),
  });
  daemon.on('event', (event) => logger.event(event));
  const server = createApiServer(daemon, {
    registry: metrics.registry,
    version: options.version,
    logRequests: logger.requests,
    onInternalError: (error) =>
      logger.note('internal-error', { message: (error as Error)?.message ?? String(error) }),
  });
  try {
    await listenUnix(server, options.socket, {
      ...(options.gid !== undefined && { gid: options.gid }),
    });
  } catch (error) {
    await daemon.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  const close = async () => {
    server.close();
    server.closeStreams();
    server.closeIdleConnections();
    try {
      await daemon.close();
    } finally {
      metrics.close();
      server.closeAllConnections();
      await unlink(options.socket).catch(() => {});
    }
  };
  return {
    daemon,
    socket: options.socket,
    close: () => {
      closing ??= close();
      return closing;
    },
  };
}
