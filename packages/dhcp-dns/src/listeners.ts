// Which addresses a process listens on, from the kernel's socket table: how the readiness check
// learns that dnsmasq has bound every gateway without one DNS round trip per gateway (each of
// which costs dnsmasq a poll() over all its thousands of sockets).
import { readdir, readFile, readlink } from 'node:fs/promises';
import { endianness } from 'node:os';

/**
 * The local IPv4 addresses bound to `port` in `/proc/net/udp` text whose socket inode is one of
 * `inodes`. Pure. The kernel prints an address as the hex of its 32-bit value in host byte
 * order (`0100000A` is 10.0.0.1 on a little-endian host) and the port in plain hex.
 */
export function parseUdpTable(
  text: string,
  port: number,
  inodes: ReadonlySet<string>,
  littleEndian = endianness() === 'LE',
): Set<string> {
  const bound = new Set<string>();
  const wantedPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
    const local = fields[1];
    const inode = fields[9];
    if (local === undefined || inode === undefined || !inodes.has(inode)) continue;
    const [hex, portHex] = local.split(':');
    if (portHex?.toUpperCase() !== wantedPort || hex?.length !== 8) continue;
    const value = Number.parseInt(hex, 16);
    if (!Number.isInteger(value)) continue;
    const bytes = [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
    bound.add((littleEndian ? bytes.reverse() : bytes).join('.'));
  }
  return bound;
}

/** The IPv4 addresses process `pid` has a UDP socket bound to on `port` (empty if it is gone). */
export async function udpListeners(pid: number, port: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return new Set();
  }
  await Promise.all(
    fds.map(async (fd) => {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match) inodes.add(match[1]!);
    }),
  );
  // The process's own network namespace, whoever reads it.
  const table = await readFile(`/proc/${pid}/net/udp`, 'utf8').catch(() => '');
  return parseUdpTable(table, port, inodes);
}
