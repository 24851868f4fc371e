import { constants } from 'node:fs';
import { access, open, readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { checkConflicts, planPool, readHostSnapshot } from '@tapnet/tap-pool';

export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  /** What to do about it, when it is not ok. */
  fix?: string;
}

export async function findBinary(
  name: string,
  path = process.env.PATH ?? '',
): Promise<string | undefined> {
  for (const dir of path.split(delimiter).concat(['/usr/sbin', '/sbin'])) {
    if (!dir) continue;
    try {
      await access(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Whether CAP_NET_ADMIN (bit 12) is in this process's effective set. */
export function hasNetAdmin(procStatus: string): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/im.exec(procStatus)?.[1];
  return hex !== undefined && (BigInt(`0x${hex}`) & (1n << 12n)) !== 0n;
}

const binaries: { names: string[]; why: string; pkg: string; required: boolean }[] = [
  { names: ['ip'], why: 'TAP devices and addresses', pkg: 'iproute2', required: true },
  { names: ['nft'], why: 'the nftables firewall backend', pkg: 'nftables', required: false },
  {
    names: ['iptables-restore'],
    why: 'the iptables firewall backend',
    pkg: 'iptables',
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
    names: ['nc', 'socat'],
    why: 'metadata for user-mode networks',
    pkg: 'netcat-openbsd',
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
  options: { size?: number; prefix?: string; subnet?: string } = {},
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
  let firewallFound = false;
  for (const b of binaries) {
    const found = (await Promise.all(b.names.map((n) => findBinary(n)))).find(Boolean);
    if (b.names[0] === 'nft' || b.names[0] === 'iptables-restore') firewallFound ||= Boolean(found);
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
  if (!firewallFound)
    checks.push({
      name: 'firewall',
      status: 'fail',
      detail: 'neither nft nor iptables-restore',
      fix: 'apt-get install nftables',
    });
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
      fix: 'choose another --subnet or --prefix, or `tapnet cleanup` leftovers',
    });
  }
  return checks;
}
