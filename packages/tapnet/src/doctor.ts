import { open, readFile } from 'node:fs/promises';
import { detectUplink } from '@tapnet/firewall';
import { checkConflicts, planPool, readHostSnapshot } from '@tapnet/tap-pool';
import { type BridgeLookup, findBridge, realLookup } from '@tapnet/user-network';
import { findTool } from './tools.js';
import { uplinkExists } from './uplink.js';

export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  /** What to do about it, when it is not ok. */
  fix?: string;
}

/** Whether CAP_NET_ADMIN (bit 12) is in this process's effective set. */
export function hasNetAdmin(procStatus: string): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/im.exec(procStatus)?.[1];
  return hex !== undefined && (BigInt(`0x${hex}`) & (1n << 12n)) !== 0n;
}

const binaries: { names: string[]; why: string; pkg: string; required: boolean; all?: boolean }[] =
  [
    { names: ['ip'], why: 'TAP devices and addresses', pkg: 'iproute2', required: true },
    { names: ['nft'], why: 'the nftables firewall backend', pkg: 'nftables', required: false },
    {
      // Detection runs iptables-save, applying runs iptables-restore: the backend needs both.
      names: ['iptables-save', 'iptables-restore'],
      why: 'the iptables firewall backend',
      pkg: 'iptables',
      required: false,
      all: true,
    },
    {
      // The iptables backend keeps each network's addresses in ipsets (one restore at any size).
      names: ['ipset'],
      why: 'the iptables firewall backend (its address sets)',
      pkg: 'ipset',
      required: false,
    },
    {
      names: ['tc'],
      why: 'per-VM traffic limits (egress, ingress)',
      pkg: 'iproute2',
      required: false,
    },
    { names: ['dnsmasq'], why: 'DHCP and DNS for guests', pkg: 'dnsmasq-base', required: true },
    {
      names: ['qemu-system-x86_64'],
      why: 'running VMs (`tapnet run`)',
      pkg: 'qemu-system-x86',
      required: false,
    },
    {
      names: ['conntrack'],
      why: "flushing a released network's tracked flows",
      pkg: 'conntrack',
      required: false,
    },
  ];

export async function runDoctor(
  options: { size?: number; prefix?: string; subnet?: string; uplink?: string } = {},
): Promise<Check[]> {
  const checks: Check[] = [];
  const status = await readFile('/proc/self/status', 'utf8');
  const admin = process.getuid?.() === 0 || hasNetAdmin(status);
  checks.push(
    admin
      ? {
          name: 'privileges',
          status: 'ok',
          detail: process.getuid?.() === 0 ? 'root' : 'CAP_NET_ADMIN',
        }
      : {
          name: 'privileges',
          status: 'fail',
          detail: 'neither root nor CAP_NET_ADMIN',
          fix: 'run as root (or `tapnet run --user` for user-mode networking)',
        },
  );
  try {
    const tun = await open('/dev/net/tun', 'r+');
    await tun.close();
    checks.push({ name: '/dev/net/tun', status: 'ok', detail: 'opens' });
  } catch (error) {
    checks.push({
      name: '/dev/net/tun',
      status: 'fail',
      detail: String((error as Error).message),
      fix: 'modprobe tun (and in a container, pass /dev/net/tun through)',
    });
  }
  checks.push(...toolChecks(findTool));
  checks.push(bridgeCheck());
  checks.push(await uplinkCheck(options.uplink));
  try {
    const kvm = await open('/dev/kvm', 'r+');
    await kvm.close();
    checks.push({
      name: 'kvm',
      status: 'ok',
      detail:
        '/dev/kvm opens (whether guests boot under it is only known by booting one; use TCG if they hang)',
    });
  } catch {
    checks.push({
      name: 'kvm',
      status: 'warn',
      detail: '/dev/kvm not usable: guests run under TCG (slower)',
      fix: 'load kvm_intel/kvm_amd if the CPU supports it',
    });
  }
  try {
    const plan = planPool({
      size: options.size ?? 1,
      ...(options.prefix && { prefix: options.prefix }),
      ...(options.subnet && { subnet: options.subnet }),
    });
    checkConflicts(plan, await readHostSnapshot());
    checks.push({
      name: 'address plan',
      status: 'ok',
      detail: `${plan.networks.length} network(s) in ${plan.range} fit, no device, route or address conflicts`,
    });
  } catch (error) {
    checks.push({
      name: 'address plan',
      status: 'fail',
      detail: (error as Error).message,
      fix: planFix(error),
    });
  }
  return checks;
}

/** What to change when the plan fails: the option it names, or the conflicting host state. */
export function planFix(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown };
  if (e.code === 'ERR_INVALID_OPTION') {
    const option = /`(size|prefix|subnet|prefixLength)`/.exec(String(e.message))?.[1];
    const flag =
      option === 'prefixLength' ? '--prefix-length' : option ? `--${option}` : 'the option';
    return `change ${flag} to what the message expects`;
  }
  return 'choose another --subnet or --prefix, or `tapnet cleanup` leftovers';
}

/**
 * The tools each part needs, found by `find`; a firewall backend needs nft, or iptables-save
 * (which detection runs), iptables-restore (which applies) and ipset (the iptables backend's
 * address sets). Pure given `find`.
 */
export function toolChecks(find: (name: string) => string | undefined): Check[] {
  const checks: Check[] = [];
  for (const b of binaries) {
    const paths = b.names.map((n) => find(n));
    const found = b.all
      ? paths.every(Boolean)
        ? paths.join(', ')
        : undefined
      : paths.find(Boolean);
    checks.push(
      found
        ? { name: b.names.join('/'), status: 'ok', detail: found }
        : {
            name: b.names.join('/'),
            status: b.required ? 'fail' : 'warn',
            detail: `not found (needed for ${b.why})`,
            fix: `apt-get install ${b.pkg}`,
          },
    );
  }
  // A backend: nft, or iptables-save (detection), iptables-restore (apply) and ipset (its sets).
  const iptables = ['iptables-save', 'iptables-restore', 'ipset'].every((n) => find(n));
  if (!find('nft') && !iptables)
    checks.push({
      name: 'firewall',
      status: 'fail',
      detail: 'neither nft nor iptables-save/iptables-restore with ipset',
      fix: 'apt-get install nftables',
    });
  return checks;
}

/**
 * The bridge user-mode networks will use: OpenBSD netcat (it has `-U`; another `nc` does not
 * count) or socat, as @tapnet/user-network chooses it.
 */
export function bridgeCheck(lookup: BridgeLookup = realLookup()): Check {
  try {
    const bridge = findBridge('auto', lookup);
    return { name: 'metadata bridge', status: 'ok', detail: `${bridge.kind} ${bridge.path}` };
  } catch (error) {
    return {
      name: 'metadata bridge',
      status: 'warn',
      detail: `${(error as Error).message.split(';')[0]} (needed for user-mode networks)`,
      fix: 'apt-get install netcat-openbsd (or socat)',
    };
  }
}

async function uplinkCheck(uplink: string | undefined): Promise<Check> {
  if (uplink === 'none')
    return { name: 'uplink', status: 'ok', detail: 'none: guests reach nothing beyond the host' };
  if (uplink !== undefined) {
    return (await uplinkExists(uplink))
      ? { name: 'uplink', status: 'ok', detail: `${uplink} exists` }
      : {
          name: 'uplink',
          status: 'fail',
          detail: `no device \`${uplink}\` here`,
          fix: 'name a device from `ip link`, or --uplink none',
        };
  }
  const detected = await detectUplink();
  return detected
    ? { name: 'uplink', status: 'ok', detail: `${detected} (the default route's device)` }
    : {
        name: 'uplink',
        status: 'warn',
        detail: 'no default route: pools forward nothing beyond the host',
        fix: 'add a default route, or pass --uplink DEV',
      };
}
