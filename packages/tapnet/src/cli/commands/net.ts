import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InvalidOptionError, TapnetError } from '../../errors.js';
import { callDaemon } from '../../serve/client.js';
import type { NetworkInfo } from '../../serve/daemon.js';
import { type Output, table } from '../output.js';
import { intValue, UsageError, type Values } from '../parse.js';
import { socketPathOf } from '../socket.js';

function requireDaemon(socket: string): void {
  if (!existsSync(socket))
    throw new TapnetError(
      'ERR_DAEMON_UNREACHABLE',
      `Expected \`tapnet serve\` to answer on ${socket}, got no socket there (start it, or name its --socket)`,
    );
}

/**
 * The handler spec the daemon takes, from `--metadata`: a URL as given, a JSON file's table
 * inline (the daemon need not read the caller's files), a folder as an absolute path (the
 * daemon serves it only inside its --handler-root).
 */
async function handlerOf(source: string): Promise<unknown> {
  if (/^(https?:\/\/|unix:)/.test(source)) return source;
  const info = await stat(source).catch(() => undefined);
  if (!info)
    throw new InvalidOptionError(
      'metadata',
      `Expected \`--metadata\` to be a URL, a JSON file or a folder, got \`${source}\` (not found)`,
    );
  if (info.isDirectory()) return resolve(source);
  try {
    return JSON.parse(await readFile(source, 'utf8'));
  } catch (error) {
    throw new InvalidOptionError('metadata', `Expected \`${source}\` to hold JSON`, {
      cause: error,
    });
  }
}

export function networkRows(networks: readonly NetworkInfo[]): string {
  return table([
    ['network', 'subnet', 'state', 'holder', 'lease', 'requests', 'mac'],
    ...networks.map((n) => {
      const requests = n.metadata
        ? Object.values(n.metadata.requests).reduce((a, b) => a + b, 0)
        : 0;
      const lease = (n.lease as { ip?: string } | undefined)?.ip ?? '';
      const holder =
        n.holder?.pid !== undefined
          ? `pid ${n.holder.pid}`
          : n.holder?.expiresAt
            ? `ttl ${n.holder.expiresAt}`
            : '';
      return [
        n.name,
        n.subnet,
        n.inUse ? 'in use' : 'free',
        holder,
        lease,
        String(requests),
        n.mac ?? '',
      ];
    }),
  ]);
}

/** `tapnet net list|acquire|release NAME`: the daemon's networks, through its socket. */
export async function netCommand(
  values: Values,
  out: Output,
  positionals: string[],
): Promise<number> {
  const [action, name] = positionals;
  const socket = socketPathOf(values);
  if (action === 'release' && name === undefined)
    throw new UsageError('Expected `tapnet net release NAME`', 'net');
  if (action !== 'release' && name !== undefined)
    throw new UsageError(`Unexpected \`${name}\``, 'net');
  requireDaemon(socket);
  if (action === 'list') {
    const networks = await callDaemon<NetworkInfo[]>(socket, 'GET', '/v1/networks');
    out.emit(networks, () => networkRows(networks));
    return 0;
  }
  if (action === 'release') {
    const result = await callDaemon<{ name: string; released: boolean }>(
      socket,
      'DELETE',
      `/v1/networks/${encodeURIComponent(name!)}`,
    );
    out.emit(result, () =>
      result.released ? `released ${result.name}` : `${result.name} was not in use`,
    );
    return 0;
  }
  const pid = intValue(values, 'pid');
  const body = {
    ...(values.metadata !== undefined && { handler: await handlerOf(values.metadata) }),
    ...(values.wait !== undefined && { wait: Number(values.wait) }),
    ...((pid !== undefined || values.ttl !== undefined) && {
      holder: {
        ...(pid !== undefined && { pid }),
        ...(values.ttl !== undefined && { ttl: Number(values.ttl) }),
      },
    }),
    ...(values.model !== undefined && { model: values.model }),
  };
  const network = await callDaemon<NetworkInfo>(socket, 'POST', '/v1/networks', body);
  out.emit(network, () =>
    [
      `${network.name} ${network.subnet} (gateway ${network.gateway}, mac ${network.mac})`,
      `qemu-system-x86_64 … ${network.qemuArgs?.join(' ')}`,
      `release: tapnet net release ${network.name}`,
    ].join('\n'),
  );
  return 0;
}
