import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import {
  DEFAULTS,
  formatRate,
  prefixHolder,
  readState,
  readTraffic,
  type StateRecord,
  statePath,
  type TrafficCounters,
} from '@tapnet/tap-pool';
import { TapnetError } from '../../errors.js';
import { callDaemon } from '../../serve/client.js';
import type { NetworkInfo } from '../../serve/daemon.js';
import { type Output, table } from '../output.js';
import type { Values } from '../parse.js';
import { socketPathOf } from '../socket.js';
import { networkRows } from './net.js';

/** tap-pool's, where pools keep their state records unless told otherwise. */
export const DEFAULT_STATE_DIR = DEFAULTS.stateDir;

/** The prefixes with a record in `stateDir`; none when it does not exist, an error when unreadable. */
export async function recordedPrefixes(stateDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(stateDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    // EACCES and the like: say that we could not tell, never "no pools".
    throw new TapnetError(
      'ERR_STATE_DIR',
      `Could not read the state folder ${stateDir}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return names.filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length));
}

/** The running daemon's pool and networks, as `virsh net-list` would show them. */
async function daemonStatus(socket: string, out: Output): Promise<number> {
  const status = await callDaemon<{
    version: string;
    prefix: string;
    size: number;
    inUse: number;
    waiting: number;
    uplink: string | null;
    firewall: { backend: string; intact: boolean };
    dnsmasq: { state: string; restarts: number };
    limits?: unknown;
  }>(socket, 'GET', '/v1/status');
  const networks = await callDaemon<NetworkInfo[]>(socket, 'GET', '/v1/networks');
  out.emit({ daemon: { socket, ...status }, networks }, () =>
    [
      `tapnet serve ${status.version} on ${socket}: pool ${status.prefix}, ${status.inUse}/${status.size} in use` +
        `${status.waiting > 0 ? `, ${status.waiting} waiting` : ''}, firewall ${status.firewall.backend} ${status.firewall.intact ? 'intact' : 'NOT INTACT'}, ` +
        `dnsmasq ${status.dnsmasq.state} (${status.dnsmasq.restarts} restarts), uplink ${status.uplink ?? 'none'}, ` +
        `per-VM connections ${networks[0]?.limits.connections ?? '?'}`,
      '',
      networkRows(networks),
    ].join('\n'),
  );
  return 0;
}

export async function statusCommand(values: Values, out: Output): Promise<number> {
  const socket = socketPathOf(values);
  if (existsSync(socket)) {
    try {
      return await daemonStatus(socket, out);
    } catch (error) {
      // A socket nobody answers on: a daemon that crashed. Its pool shows below as stale.
      if ((error as { code?: unknown }).code !== 'ERR_DAEMON_UNREACHABLE') throw error;
      out.log(`no daemon answers on ${socket} (crashed?): the pools recorded on this host follow`);
    }
  }
  const stateDir = values['state-dir'] ?? DEFAULT_STATE_DIR;
  const pools: {
    prefix: string;
    pid?: number;
    alive: boolean;
    devices: string[];
    problem?: string;
    /** Rate limits in force and their counters, by device (only limited ones), from tc. */
    traffic?: Record<string, Pick<TrafficCounters, 'egress' | 'ingress'>>;
  }[] = [];
  for (const prefix of await recordedPrefixes(stateDir)) {
    let record: StateRecord | undefined;
    let problem: string | undefined;
    try {
      record = readState(statePath(stateDir, prefix));
    } catch (error) {
      problem = (error as Error).message;
    }
    // Alive means the prefix's claim is held (released by the kernel when its process dies), not
    // that the record's pid names some process: pids are reused.
    const holder = await prefixHolder(prefix);
    const traffic =
      holder !== undefined && record && record.devices.length > 0
        ? Object.fromEntries(await readTraffic(prefix, record.devices))
        : undefined;
    pools.push({
      prefix,
      ...(record && { pid: holder || record.pid }),
      alive: holder !== undefined,
      devices: record?.devices ?? [],
      ...(problem !== undefined && { problem }),
      ...(traffic && Object.keys(traffic).length > 0 && { traffic }),
    });
  }
  const limited = pools.flatMap((p) => Object.entries(p.traffic ?? {}));
  const direction = (c?: TrafficCounters['egress']) =>
    c ? `${formatRate(c.rate)}: ${c.bytes} bytes, ${c.drops} dropped` : '-';
  out.emit(pools, () =>
    pools.length === 0
      ? `no pools recorded in ${stateDir}`
      : table([
          ['prefix', 'pid', 'state', 'devices'],
          ...pools.map((p) => [
            p.prefix,
            String(p.pid ?? '?'),
            p.problem !== undefined
              ? `unreadable record: ${p.problem}`
              : p.alive
                ? 'running'
                : 'stale (run `tapnet cleanup`)',
            String(p.devices.length),
          ]),
        ]) +
        (limited.length === 0
          ? ''
          : `\n\n${table([
              ['network', 'egress (VM sends)', 'ingress (VM receives)'],
              ...limited.map(([device, t]) => [device, direction(t.egress), direction(t.ingress)]),
            ])}`),
  );
  return 0;
}
