import { chmod, chown, lstat, mkdir, readFile, stat, unlink } from 'node:fs/promises';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { contains, LOOPBACK, parseIPv4 } from '@tapnet/internal';
import { TapnetError } from '../errors.js';

/** The gid of `group` (a name or a number) in /etc/group's text (pure); undefined if unknown. */
export function gidOf(group: string, etcGroup: string): number | undefined {
  if (/^\d+$/.test(group)) return Number(group);
  for (const line of etcGroup.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

export async function resolveGroup(group: string): Promise<number> {
  const gid = gidOf(group, await readFile('/etc/group', 'utf8').catch(() => ''));
  if (gid === undefined)
    throw new TapnetError(
      'ERR_INVALID_OPTION',
      `Expected --group to name a group of this host, got \`${group}\``,
    );
  return gid;
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Listens on a unix socket at `path` with `mode` (default 0660) and, when given, group `gid`.
 * A socket someone still answers on is refused (another daemon); a dead one (a crash) is
 * replaced; anything that is not a socket is never removed.
 */
export async function listenUnix(
  server: Server,
  path: string,
  options: { mode?: number; gid?: number } = {},
): Promise<void> {
  const info = await lstat(path).catch(() => undefined);
  if (info) {
    if (!info.isSocket())
      throw new TapnetError(
        'ERR_SOCKET_PATH',
        `Expected --socket to name a socket or nothing, got \`${path}\` (another kind of file)`,
      );
    if (await answers(path))
      throw new TapnetError(
        'ERR_SOCKET_IN_USE',
        `Another daemon answers on ${path}: stop it or choose another --socket`,
      );
    await unlink(path);
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  // Created owner-only, then opened up: nobody can connect in between to a socket wider than asked.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
  if (options.gid !== undefined) {
    await chown(path, -1, options.gid);
    // The group must reach the socket by name: its folder (the 0700 state folder by default)
    // gets that group and search permission (0710), never read or write.
    const folder = dirname(path);
    const info = await stat(folder);
    if (info.uid === process.getuid?.()) {
      await chown(folder, -1, options.gid);
      await chmod(folder, (info.mode & 0o7777) | 0o010);
    }
  }
  await chmod(path, options.mode ?? 0o660);
}

/** Listens on TCP `host:port`; the error (EADDRINUSE, …) as a typed error naming the address. */
export async function listenTcp(server: Server, host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) =>
      reject(
        new TapnetError('ERR_LISTEN', `Could not listen on ${host}:${port}: ${error.message}`, {
          cause: error,
        }),
      );
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** `HOST:PORT` (pure): IPv4 or `[IPv6]`, a port from 1 to 65535; undefined when it is not one. */
export function parseAddress(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+|localhost)):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}

/** Whether `host` is a loopback address: the control API is never offered beyond the host. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  const address = parseIPv4(host);
  return address !== undefined && contains(LOOPBACK, address);
}
