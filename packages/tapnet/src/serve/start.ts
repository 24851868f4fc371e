import { unlink } from 'node:fs/promises';
import type { MetadataHandler } from '@tapnet/metadata-proxy';
import { normalizeLimits } from '../limits.js';
import type { PoolOptions } from '../options.js';
import { Pool } from '../pool.js';
import { Daemon } from './daemon.js';
import { listenTcp, listenUnix } from './listen.js';
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
  /** The control API on TCP too (loopback only), each request with this bearer token. */
  tcp?: { host: string; port: number; token: string };
  /** `GET /metrics` alone on TCP, for a scraper that cannot reach a unix socket. */
  metricsAddress?: { host: string; port: number };
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
  const servers = [server];
  const common = {
    registry: metrics.registry,
    version: options.version,
    onInternalError: (error: unknown) =>
      logger.note('internal-error', { message: (error as Error)?.message ?? String(error) }),
  };
  try {
    if (options.tcp) {
      const tcp = createApiServer(daemon, {
        ...common,
        token: options.tcp.token,
        logRequests: logger.requests,
      });
      servers.push(tcp);
      await listenTcp(tcp, options.tcp.host, options.tcp.port);
    }
    if (options.metricsAddress) {
      const scrape = createApiServer(daemon, {
        ...common,
        only: ['getMetrics'],
        logRequests: logger.requests,
      });
      servers.push(scrape);
      await listenTcp(scrape, options.metricsAddress.host, options.metricsAddress.port);
    }
  } catch (error) {
    for (const s of servers) s.close();
    await daemon.close();
    metrics.close();
    await unlink(options.socket).catch(() => {});
    throw error;
  }
  let closing: Promise<void> | undefined;
  const close = async () => {
    for (const s of servers) {
      s.close();
      s.closeStreams();
      s.closeIdleConnections();
    }
    try {
      await daemon.close();
    } finally {
      metrics.close();
      for (const s of servers) s.closeAllConnections();
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
