// Pure: the `ip -batch` scripts and sysctl writes that create and remove a pool.
import type { PoolPlan } from './plan.js';

export const IP_FORWARD = 'net.ipv4.ip_forward';

export interface SysctlWrite {
  /** Dotted name, e.g. `net.ipv4.conf.tn0.rp_filter`. */
  key: string;
  value: string;
}

/** Path of a dotted sysctl name under `root` (device names never contain dots here). */
export function sysctlPath(key: string, root = '/proc/sys'): string {
  return `${root}/${key.split('.').join('/')}`;
}

/**
 * One `tuntap add` per network (persistent TAPs, owned by `owner` when given), each followed at
 * once by moving it into the pool's link group and, with `mark`, setting its ifalias to it: the
 * proof cleanup asks for before it deletes a device, so it is set before anything else happens.
 */
export function tapScript(plan: PoolPlan, mark?: string): string {
  const owner =
    (plan.owner?.uid === undefined ? '' : ` user ${plan.owner.uid}`) +
    (plan.owner?.gid === undefined ? '' : ` group ${plan.owner.gid}`);
  const alias = mark === undefined ? '' : ` alias ${mark}`;
  return plan.networks
    .map(
      (n) =>
        `tuntap add dev ${n.device} mode tap${owner}\n` +
        `link set dev ${n.device} group ${plan.linkGroup}${alias}\n`,
    )
    .join('');
}

/** Per-device hardening, written before a link goes up so no RA or link-local address slips in. */
export function deviceSysctls(plan: PoolPlan): SysctlWrite[] {
  const writes: SysctlWrite[] = [];
  for (const { device } of plan.networks) {
    const v4 = `net.ipv4.conf.${device}`;
    const v6 = `net.ipv6.conf.${device}`;
    writes.push(
      { key: `${v4}.rp_filter`, value: '1' },
      { key: `${v4}.send_redirects`, value: '0' },
      { key: `${v4}.accept_redirects`, value: '0' },
      { key: `${v4}.proxy_arp`, value: '0' },
      // ARP only for the TAP's own address, so a VM cannot map the host's other addresses.
      { key: `${v4}.arp_ignore`, value: '1' },
      { key: `${v4}.arp_announce`, value: '2' },
      { key: `${v6}.accept_ra`, value: '0' },
    );
    if (plan.ipv6) writes.push({ key: `${v6}.accept_redirects`, value: '0' });
    else writes.push({ key: `${v6}.disable_ipv6`, value: '1' });
  }
  return writes;
}

export function metadataCidr(plan: PoolPlan): string {
  return `${plan.metadataIp}/32`;
}

/** Gateway address and link up per network, then the metadata IP on `lo` when it is absent. */
export function configureScript(plan: PoolPlan, addMetadataIp: boolean): string {
  let script = '';
  for (const n of plan.networks) {
    script += `addr add ${n.gateway}/${n.prefixLength} broadcast ${n.broadcast} dev ${n.device}\n`;
    script += `link set dev ${n.device} up\n`;
  }
  if (addMetadataIp) script += `addr add ${metadataCidr(plan)} dev lo\n`;
  return script;
}

/**
 * Deleting a TAP takes its addresses and routes with it; the metadata IP goes last. A whole link
 * group goes in one kernel call (one RCU wait instead of one per device: 0.2 s instead of 23 s
 * for 1000 TAPs); only pass `group` when every device in it is ours.
 */
export function removeScript(
  remove: { group?: number; devices: readonly string[] },
  metadata: string | undefined,
): string {
  let script = remove.group === undefined ? '' : `link del group ${remove.group}\n`;
  script += remove.devices.map((d) => `link del dev ${d}\n`).join('');
  if (metadata) script += `addr del ${metadata} dev lo\n`;
  return script;
}

/**
 * Deletes the IPv4 address of each device about to be deleted, run before them. A device going
 * down with routes still on it makes the kernel walk the whole routing table (fib_flush, once per
 * device), so deleting n addressed TAPs walked a table of ~3n routes n times: 57 % of
 * `link del group` at 4096 TAPs, growing with n². An address deleted first takes its own routes
 * by lookup, and the device then goes with nothing to walk.
 *
 * `addr del dev X` (under `ip -4`) names no address: the kernel deletes X's first IPv4 address
 * (and its secondaries), the gateway a pool gives each TAP, so nobody has to list every device's
 * addresses first (iproute2 does that in n² at n devices). A second address someone added to a
 * TAP stays and goes with the TAP (only slower). The first line, which prints nothing, has ip
 * load every device's index in one dump: without it each `dev X` costs ip a socket and a lookup
 * of its own (a third of these lines' time at 4096 TAPs). Not `addr flush group N`: iproute2 6.1
 * ignores `group` (and `master`, `type`, `up`) when flushing, so it flushes every address of
 * every device, lo's 127.0.0.1 with them.
 */
export function unaddressScript(devices: readonly string[]): string {
  if (devices.length === 0) return '';
  return `neigh show dev lo\n${devices.map((d) => `addr del dev ${d}\n`).join('')}`;
}

/** The script line numbers (from 1) `ip -force -batch` reports as failed in its stderr. */
export function failedLines(stderr: string): number[] {
  return [...stderr.matchAll(/^Command failed -:(\d+)$/gm)].map((m) => Number(m[1]));
}
