import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DriftEvent } from '@tapnet/firewall';
import { isAlive, readState, type StateRecord, statePath } from '@tapnet/tap-pool';
import { UserNetwork } from '@tapnet/user-network';
import { execa } from 'execa';
import { type Check, runDoctor } from './doctor.js';
import { TapnetError } from './errors.js';
import { handlerFromSource } from './metadata-source.js';
import type { Network } from './network.js';
import type { FirewallBackendOption, PoolOptions } from './options.js';
import { cleanupLeftovers, type LeftoverReport, Pool } from './pool.js';

const usage = `Usage: tapnet <command> [options]

Commands:
  doctor                       check privileges, devices, tools and the address plan
  up --size N                  create a pool in the foreground; Ctrl-C disposes it
  run [--user] -- QEMU ARGS…   run QEMU with a network of its own, released when it exits
  status                       pools recorded on this host (state records)
  cleanup [--prefix P]         remove what a crashed pool left behind (only what it created)

Pool options (up, run, doctor):
  --size N  --prefix P  --subnet CIDR  --prefix-length L  --firewall auto|nft|iptables
  --uplink DEV|none  --state-dir DIR  --connections N (per-VM conntrack cap, default 8192)
Other options:
  --metadata FILE|DIR|URL      what the metadata service answers (up, run)
  --model virtio-net-pci|e1000 the NIC (run)     --socket-folder DIR  (run --user)
  --json                       machine-readable output
`;

const options = {
  size: { type: 'string' },
  prefix: { type: 'string' },
  subnet: { type: 'string' },
  'prefix-length': { type: 'string' },
  firewall: { type: 'string' },
  uplink: { type: 'string' },
  'state-dir': { type: 'string' },
  connections: { type: 'string' },
  metadata: { type: 'string' },
  model: { type: 'string' },
  user: { type: 'boolean' },
  'socket-folder': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<
  typeof parseArgs<{ options: typeof options; allowPositionals: true }>
>['values'];

function fail(message: string): never {
  throw new TapnetError('ERR_USAGE', message);
}

function intOption(
  values: Values,
  name: 'size' | 'prefix-length' | 'connections',
): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) fail(`Expected --${name} to be a whole number, got \`${raw}\``);
  return Number(raw);
}

function poolOptions(values: Values, defaults: Partial<PoolOptions> = {}): PoolOptions {
  const size = intOption(values, 'size') ?? defaults.size;
  if (size === undefined) fail('Expected --size N');
  const prefixLength = intOption(values, 'prefix-length');
  const connections = intOption(values, 'connections');
  return {
    ...defaults,
    size,
    ...(values.prefix !== undefined && { prefix: values.prefix }),
    ...(values.subnet !== undefined && { subnet: values.subnet }),
    ...(prefixLength !== undefined && { prefixLength }),
    ...(values.firewall !== undefined && { firewall: values.firewall as FirewallBackendOption }),
    ...(values.uplink !== undefined && { uplink: values.uplink === 'none' ? null : values.uplink }),
    ...(values['state-dir'] !== undefined && { stateDir: values['state-dir'] }),
    ...(connections !== undefined && { limits: { connections } }),
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function print(json: boolean | undefined, value: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

async function doctor(values: Values): Promise<number> {
  const checks = await runDoctor({
    ...(intOption(values, 'size') !== undefined && { size: intOption(values, 'size') }),
    ...(values.prefix && { prefix: values.prefix }),
    ...(values.subnet && { subnet: values.subnet }),
  });
  const mark: Record<Check['status'], string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL' };
  print(values.json, checks, () =>
    table([
      ['check', 'status', 'detail', 'fix'],
      ...checks.map((c) => [c.name, mark[c.status], c.detail, c.fix ?? '']),
    ]),
  );
  return checks.some((c) => c.status === 'fail') ? 1 : 0;
}

function describeNetworks(pool: Pool): string[][] {
  return [
    ['network', 'subnet', 'gateway', 'dhcp range'],
    ...pool.plan.networks.map((n) => [
      n.device,
      n.subnet,
      n.gateway,
      `${n.dhcpRange.start}-${n.dhcpRange.end}`,
    ]),
  ];
}

async function up(values: Values): Promise<number> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (!values.json) log('creating pool…');
  const pool = await Pool.create(poolOptions(values));
  const networks: Network[] = [];
  try {
    if (values.metadata !== undefined) {
      const handler = await handlerFromSource(values.metadata);
      for (let i = 0; i < pool.size; i++) {
        const network = pool.network();
        network.setHandler(handler);
        networks.push(network);
      }
    }
    const status = await pool.status();
    print(
      values.json,
      {
        event: 'up',
        prefix: pool.prefix,
        uplink: status.uplink,
        backend: status.firewall.backend,
        networks: pool.plan.networks,
      },
      () =>
        `${table(describeNetworks(pool))}\n\npool ${pool.prefix}: ${pool.size} network(s), firewall ${status.firewall.backend}, ` +
        `${status.uplink ? `uplink ${status.uplink} (NAT)` : 'no uplink: guests reach nothing beyond the host'}; Ctrl-C to dispose`,
    );
    pool.on('lease', (lease) =>
      print(
        values.json,
        { event: 'lease', ...lease },
        () =>
          `lease ${lease.network} ${lease.mac} ${lease.ip}${lease.hostname ? ` ${lease.hostname}` : ''}`,
      ),
    );
    pool.on('dnsmasq-restart', (info) =>
      print(
        values.json,
        { event: 'dnsmasq-restart', info },
        () => `dnsmasq restarted: ${JSON.stringify(info)}`,
      ),
    );
    pool.on('firewall-drift', (drift: DriftEvent) =>
      print(
        values.json,
        { event: 'firewall-drift', ...drift },
        () => `firewall (${drift.backend}) changed by someone else, re-applied: ${drift.reason}`,
      ),
    );
    pool.on('error', (error: Error) => log(`error: ${error.message}`));
    const signal = await waitForSignal();
    if (!values.json) log(`${signal}: disposing…`);
  } finally {
    for (const network of networks) network.release();
    await pool.dispose();
  }
  print(
    values.json,
    { event: 'disposed', prefix: pool.prefix },
    () => `pool ${pool.prefix} disposed`,
  );
  return 0;
}

async function runQemu(values: Values, argv: string[]): Promise<number> {
  const [qemu, ...qemuArgs] = argv;
  if (!qemu)
    fail('Expected a QEMU command after `--`, e.g. `tapnet run -- qemu-system-x86_64 -m 512 …`');
  const model = values.model ?? 'virtio-net-pci';
  if (model !== 'virtio-net-pci' && model !== 'e1000')
    fail(`Expected --model virtio-net-pci or e1000, got \`${model}\``);
  const handler =
    values.metadata === undefined ? undefined : await handlerFromSource(values.metadata);
  const cleanups: (() => Promise<void>)[] = [];
  let netArgs: string[];
  try {
    if (values.user) {
      let folder = values['socket-folder'];
      if (folder === undefined) {
        folder = await mkdtemp(join(tmpdir(), 'tapnet-'));
        const made = folder;
        cleanups.push(() => rm(made, { recursive: true, force: true }));
      }
      const network = await UserNetwork.create(folder);
      cleanups.push(() => network.release());
      if (handler) network.setHandler(handler);
      netArgs = ['-netdev', network.netdev('net0'), '-device', `${model},netdev=net0`];
    } else {
      const pool = await Pool.create(poolOptions(values, { size: 1, prefix: 'tr' }));
      cleanups.push(() => pool.dispose());
      const network = pool.network();
      if (handler) network.setHandler(handler);
      netArgs = network.qemuArgs('net0', { model });
      process.stderr.write(
        `tapnet: ${network.name} ${network.subnet} (gateway ${network.gateway}, mac ${network.mac})\n`,
      );
    }
    const child = execa(qemu, [...qemuArgs, ...netArgs], { stdio: 'inherit', reject: false });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    process.on('SIGHUP', forward);
    const result = await child;
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    process.off('SIGHUP', forward);
    return result.exitCode ?? (result.signal ? 128 : 1);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

async function recordedPrefixes(stateDir: string): Promise<string[]> {
  try {
    return (await readdir(stateDir))
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length));
  } catch {
    return [];
  }
}

async function status(values: Values): Promise<number> {
  const stateDir = values['state-dir'] ?? '/run/tapnet';
  const prefixes = await recordedPrefixes(stateDir);
  const pools: { prefix: string; pid?: number; alive: boolean; devices: string[] }[] = [];
  for (const prefix of prefixes) {
    let record: StateRecord | undefined;
    try {
      record = readState(statePath(stateDir, prefix));
    } catch {
      record = undefined;
    }
    const alive = record !== undefined && isAlive(record.pid);
    pools.push({
      prefix,
      ...(record && { pid: record.pid }),
      alive,
      devices: record?.devices ?? [],
    });
  }
  print(values.json, pools, () =>
    pools.length === 0
      ? `no pools recorded in ${stateDir}`
      : table([
          ['prefix', 'pid', 'state', 'devices'],
          ...pools.map((p) => [
            p.prefix,
            String(p.pid ?? '?'),
            p.alive ? 'running' : 'stale (run `tapnet cleanup`)',
            String(p.devices.length),
          ]),
        ]),
  );
  return 0;
}

async function cleanup(values: Values): Promise<number> {
  const stateDir = values['state-dir'] ?? '/run/tapnet';
  const prefixes = values.prefix !== undefined ? [values.prefix] : await recordedPrefixes(stateDir);
  const reports: LeftoverReport[] = [];
  for (const prefix of prefixes) reports.push(await cleanupLeftovers(prefix, stateDir));
  print(values.json, reports, () =>
    reports.length === 0
      ? `nothing recorded in ${stateDir}; pass --prefix to clean up a pool by name`
      : reports
          .map((r) =>
            r.running
              ? `pool ${r.prefix}: running (pid ${r.running}); left alone`
              : [
                  `pool ${r.prefix}:`,
                  `  dnsmasq: ${r.dnsmasqStopped ? 'stopped a leftover process' : 'none running'}`,
                  `  firewall: ${r.firewall.removed.length ? r.firewall.removed.join(', ') : 'nothing to remove'}`,
                  `  devices: ${r.taps.removedDevices.length ? r.taps.removedDevices.join(', ') : 'nothing to remove'}`,
                  ...r.taps.skipped.map((x) => `  left alone: ${x.name} (${x.reason})`),
                ].join('\n'),
          )
          .join('\n'),
  );
  return reports.some((r) => r.running) ? 1 : 0;
}

export async function main(args: string[]): Promise<number> {
  const dashdash = args.indexOf('--');
  const own = dashdash === -1 ? args : args.slice(0, dashdash);
  const rest = dashdash === -1 ? [] : args.slice(dashdash + 1);
  const { values, positionals } = parseArgs({
    args: own,
    options,
    allowPositionals: true,
    strict: true,
  });
  const [command] = positionals;
  if (values.help || !command) {
    process.stdout.write(usage);
    return command || values.help ? 0 : 2;
  }
  switch (command) {
    case 'doctor':
      return doctor(values);
    case 'up':
      return up(values);
    case 'run':
      return runQemu(values, rest);
    case 'status':
      return status(values);
    case 'cleanup':
      return cleanup(values);
    default:
      fail(`Unknown command \`${command}\`\n\n${usage}`);
  }
}
