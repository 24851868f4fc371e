import type { DriftEvent } from '@tapnet/firewall';
import type { MetadataHandler } from '@tapnet/metadata-proxy';
import { handlerFromSource } from '../../metadata-source.js';
import type { Network } from '../../network.js';
import { Pool } from '../../pool.js';
import { limitsText } from '../limits-text.js';
import { type Output, table } from '../output.js';
import type { Values } from '../parse.js';
import { poolOptionsOf } from '../pool-options.js';
import { trapStopSignals } from '../signals.js';
import { checkUplink } from '../uplink.js';

export async function upCommand(values: Values, out: Output): Promise<number> {
  const options = poolOptionsOf(values);
  // Everything that can be refused is refused before a line is printed or a device made.
  const handler =
    values.metadata === undefined ? undefined : await handlerFromSource(values.metadata);
  if (typeof options.uplink === 'string') await checkUplink(options.uplink, 'up');
  // From here until everything is disposed, a stop signal (a hang-up too) cannot kill the
  // process: one that arrives while the pool starts up disposes it once it is made.
  const trap = trapStopSignals();
  try {
    out.log('creating pool…');
    const pool = await Pool.create(options);
    return await serveUntilStopped(pool, handler, values, out, trap.stopped);
  } finally {
    trap.release();
  }
}

async function serveUntilStopped(
  pool: Pool,
  handler: MetadataHandler | undefined,
  values: Values,
  out: Output,
  stopped: Promise<NodeJS.Signals>,
): Promise<number> {
  const networks: Network[] = [];
  try {
    for (let i = 0; i < pool.size; i++) {
      const network = pool.network();
      if (handler) network.setHandler(handler);
      networks.push(network);
    }
    const status = await pool.status();
    out.emit(
      {
        event: 'up',
        prefix: pool.prefix,
        uplink: status.uplink,
        backend: status.firewall.backend,
        networks: networks.map((n) => ({
          name: n.name,
          subnet: n.subnet,
          gateway: n.gateway,
          mac: n.mac,
          limits: n.limits,
          qemuArgs: n.qemuArgs('net0'),
        })),
      },
      () =>
        [
          table([
            ['network', 'subnet', 'gateway', 'mac', 'dhcp range', 'limits'],
            ...pool.plan.networks.map((n, i) => [
              n.device,
              n.subnet,
              n.gateway,
              networks[i]?.mac ?? '',
              `${n.dhcpRange.start}-${n.dhcpRange.end}`,
              networks[i] ? limitsText(networks[i].limits) : '',
            ]),
          ]),
          '',
          `attach a VM to ${networks[0]?.name}: qemu-system-x86_64 … ${networks[0]?.qemuArgs('net0').join(' ')}`,
          '',
          `pool ${pool.prefix}: ${pool.size} network(s), firewall ${status.firewall.backend}, ` +
            `${status.uplink ? `uplink ${status.uplink} (NAT)` : 'no uplink: guests reach nothing beyond the host'}` +
            `${handler ? '' : ', no --metadata (requests get 404)'}; Ctrl-C to dispose`,
        ].join('\n'),
    );
    pool.on('lease', (lease) =>
      out.emit(
        { event: 'lease', ...lease },
        () =>
          `lease ${lease.network} ${lease.mac} ${lease.ip}${lease.hostname ? ` ${lease.hostname}` : ''}`,
      ),
    );
    pool.on('dnsmasq-restart', (info) =>
      out.emit(
        { event: 'dnsmasq-restart', info },
        () => `dnsmasq restarted: ${JSON.stringify(info)}`,
      ),
    );
    pool.on('firewall-drift', (drift: DriftEvent) =>
      out.emit(
        { event: 'firewall-drift', ...drift },
        () => `firewall (${drift.backend}) changed by someone else, re-applied: ${drift.reason}`,
      ),
    );
    if (!values.quiet) {
      pool.on(
        'metadata-request',
        (r: { network?: string; method: string; url: string; status: number }) =>
          out.emit(
            { event: 'metadata-request', ...r },
            () => `metadata ${r.network ?? '-'} ${r.method} ${r.url} ${r.status}`,
          ),
      );
    }
    pool.on('error', (error: Error) =>
      out.emit({ event: 'error', message: error.message }, () => `error: ${error.message}`),
    );
    const signal = await stopped;
    out.log(`${signal}: disposing…`);
  } finally {
    for (const network of networks) network.release();
    await pool.dispose();
  }
  out.emit({ event: 'disposed', prefix: pool.prefix }, () => `pool ${pool.prefix} disposed`);
  return 0;
}
