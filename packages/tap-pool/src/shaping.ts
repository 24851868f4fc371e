// Pure: the `ip -batch`, `tc -batch` and `nft -f` texts that put per-VM traffic limits on a
// pool's TAPs and take them off, and the parsers of their counters.
//
// Directions are the VM's. What a VM receives leaves the host through the TAP: a tbf on the
// TAP's root shapes it. What a VM sends arrives on the TAP, where the kernel can only police,
// not queue; this kernel family may lack the police action, so the TAP's ingress redirects it
// (u32 match-all + mirred, as the CNI bandwidth plugin does) to an IFB device of the network,
// whose root tbf shapes it. Packet rates are capped by an nft `limit` on the TAP's netdev
// ingress hook (tc has no packet-rate shaper without the police action).
import { MAX_DEVICE_NAME_BYTES } from './options.js';
import { linkGroupOf } from './plan.js';
import type { NormalizedTrafficLimits, ShapedRate } from './rate.js';

/** How long a packet may wait in a tbf before it is dropped instead (its queue's length). */
export const TBF_LATENCY = '50ms';

/** The IFB device that shapes what the VM on `device` sends: `<prefix>_<index>`. */
export function ifbName(prefix: string, device: string): string {
  return `${prefix}_${device.slice(prefix.length)}`;
}

/**
 * Whether every IFB name of a pool fits the kernel's 15 bytes: `<prefix>_<index>` is one byte
 * longer than its TAP's name, so a prefix as long as the TAPs allow leaves no room for it.
 */
export function ifbNamesFit(prefix: string, size: number): boolean {
  return Buffer.byteLength(ifbName(prefix, `${prefix}${size - 1}`)) <= MAX_DEVICE_NAME_BYTES;
}

/** The ifalias every IFB of a pool carries: cleanup deletes only IFBs that have it. */
export function ifbMark(prefix: string): string {
  return `tapnet:${prefix}:ifb`;
}

/**
 * The link group of a pool's IFBs (apart from its TAPs' group): the kernel brings up and
 * deletes a group in one call, where device by device costs milliseconds each (minutes at 4096).
 */
export function ifbGroup(prefix: string): number {
  return linkGroupOf(`${prefix}:ifb`);
}

/** The nft table (family netdev) holding the pool's packet-rate caps. */
export function ppsTable(prefix: string): string {
  return `tapnet_${prefix}_pps`;
}

/** The burst of a packet-rate cap, in packets: 100 ms at the rate, at least 10. */
export function ppsBurst(pps: number): number {
  return Math.max(10, Math.ceil(pps / 10));
}

/** One network's change of limits: what it has now and what it should have. */
export interface ShapingChange {
  device: string;
  ifb: string;
  from: NormalizedTrafficLimits;
  to: NormalizedTrafficLimits;
}

/**
 * `ip -batch` text creating the IFBs in the pool's IFB group, marked, then up: one device by
 * name, several by their group (one kernel call).
 */
export function ifbCreateScript(prefix: string, ifbs: readonly string[]): string {
  const mark = ifbMark(prefix);
  const group = ifbGroup(prefix);
  const up =
    ifbs.length === 1
      ? `link set dev ${ifbs[0]} up\n`
      : ifbs.length > 1
        ? `link set group ${group} up\n`
        : '';
  return (
    ifbs.map((n) => `link add ${n} group ${group} type ifb\n`).join('') +
    ifbs.map((n) => `link set dev ${n} alias ${mark}\n`).join('') +
    up
  );
}

/** A device as `ip -details -json link show` describes it (the fields the removal reads). */
export interface LinkEntry {
  ifname?: string;
  ifalias?: string;
  group?: string | number;
  linkinfo?: { info_kind?: string };
}

/**
 * `ip -force -batch` text deleting the pool's IFBs found in `links`: an IFB named
 * `<prefix>_<digits>` carrying the pool's mark (and, given `only`, among those). When every
 * member of the IFB group is such a device, one `link del group`; otherwise device by device.
 */
export function ifbRemoval(
  prefix: string,
  links: readonly LinkEntry[],
  only?: ReadonlySet<string>,
): { script: string; removed: string[] } {
  const group = String(ifbGroup(prefix));
  const pattern = new RegExp(`^${prefix}_\\d+$`);
  const ours = (l: LinkEntry) =>
    l.linkinfo?.info_kind === 'ifb' &&
    typeof l.ifname === 'string' &&
    pattern.test(l.ifname) &&
    l.ifalias === ifbMark(prefix) &&
    (only === undefined || only.has(l.ifname));
  const removed = links.filter(ours).map((l) => l.ifname as string);
  const members = links.filter((l) => String(l.group) === group);
  const byGroup = members.length > 0 && members.every(ours);
  const single = removed.filter((n) => !byGroup || !members.some((m) => m.ifname === n));
  const script =
    (byGroup ? `link del group ${group}\n` : '') +
    single.map((n) => `link del dev ${n}\n`).join('');
  return { script, removed };
}

function tbf(dev: string, shaped: ShapedRate): string {
  return `qdisc replace dev ${dev} root handle 1: tbf rate ${shaped.rate}bit burst ${shaped.burst} latency ${TBF_LATENCY}\n`;
}

/**
 * `tc -batch` text taking each network from its current limits to the wanted ones; it touches
 * only what differs, and deletes only what `from` says exists (tc stops at the first error).
 * The IFB's shaper is in place before the TAP redirects to it, so no packet passes unshaped.
 */
export function tcScript(changes: readonly ShapingChange[]): string {
  let text = '';
  for (const { device, ifb, from, to } of changes) {
    if (to.ingress && !sameRate(from.ingress, to.ingress)) text += tbf(device, to.ingress);
    else if (!to.ingress && from.ingress) text += `qdisc del dev ${device} root\n`;
    if (to.egress && !sameRate(from.egress, to.egress)) {
      text += tbf(ifb, to.egress);
      if (!from.egress) {
        text +=
          `qdisc add dev ${device} handle ffff: ingress\n` +
          `filter add dev ${device} parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev ${ifb}\n`;
      }
    } else if (!to.egress && from.egress) {
      text += `qdisc del dev ${device} ingress\nqdisc del dev ${ifb} root\n`;
    }
  }
  return text;
}

/**
 * `nft -f` text for the packet-rate changes: one netdev base chain per capped TAP. `add` of the
 * table and chain is idempotent; the chain is flushed before its one rule is written.
 */
export function ppsScript(prefix: string, changes: readonly ShapingChange[]): string {
  const table = ppsTable(prefix);
  let text = '';
  for (const { device, from, to } of changes) {
    if (to.packetsPerSecond === from.packetsPerSecond) continue;
    const chain = `vm_${device}`;
    if (to.packetsPerSecond === undefined) {
      text += `flush chain netdev ${table} ${chain}\ndelete chain netdev ${table} ${chain}\n`;
      continue;
    }
    const pps = to.packetsPerSecond;
    text +=
      `add table netdev ${table}\n` +
      `add chain netdev ${table} ${chain} { type filter hook ingress device "${device}" priority 0; }\n` +
      `flush chain netdev ${table} ${chain}\n` +
      `add rule netdev ${table} ${chain} limit rate over ${pps}/second burst ${ppsBurst(pps)} packets counter drop\n`;
  }
  return text;
}

/** `nft -f` text deleting the pool's packet-rate table (declared first: no error when absent). */
export function ppsRemoveScript(prefix: string): string {
  const table = ppsTable(prefix);
  return `table netdev ${table} {}\ndelete table netdev ${table}\n`;
}

function sameRate(a: ShapedRate | undefined, b: ShapedRate | undefined): boolean {
  return a !== undefined && b !== undefined && a.rate === b.rate && a.burst === b.burst;
}

/** A shaper's counters: what it let through, and what it dropped. */
export interface QdiscCounters {
  bytes: number;
  packets: number;
  drops: number;
  /** Bytes waiting in the queue now. */
  backlog: number;
  /** The shaper's rate in bits per second, as the kernel has it. */
  rate: number;
}

/** Root qdisc counters by device, from `tc -s -j qdisc show`; only tbf roots (ours). */
export function parseTcCounters(text: string): Map<string, QdiscCounters> {
  const out = new Map<string, QdiscCounters>();
  let entries: unknown;
  try {
    entries = JSON.parse(text.trim() || '[]');
  } catch {
    return out;
  }
  if (!Array.isArray(entries)) return out;
  for (const e of entries as Record<string, unknown>[]) {
    if (e?.kind !== 'tbf' || e.root !== true || typeof e.dev !== 'string') continue;
    const n = (key: string) => (typeof e[key] === 'number' ? (e[key] as number) : 0);
    const rate = (e.options as { rate?: unknown } | undefined)?.rate;
    out.set(e.dev, {
      bytes: n('bytes'),
      packets: n('packets'),
      drops: n('drops'),
      backlog: n('backlog'),
      // tc prints bytes per second
      rate: typeof rate === 'number' ? rate * 8 : 0,
    });
  }
  return out;
}

/** Packets dropped by each TAP's packet-rate cap, from `nft -j list table netdev <table>`. */
export function parsePpsCounters(text: string): Map<string, number> {
  const out = new Map<string, number>();
  let doc: unknown;
  try {
    doc = JSON.parse(text.trim() || '{}');
  } catch {
    return out;
  }
  const items = (doc as { nftables?: unknown })?.nftables;
  if (!Array.isArray(items)) return out;
  for (const item of items as { rule?: { chain?: string; expr?: unknown[] } }[]) {
    const rule = item?.rule;
    if (!rule?.chain?.startsWith('vm_') || !Array.isArray(rule.expr)) continue;
    for (const expr of rule.expr as { counter?: { packets?: number } }[]) {
      if (typeof expr?.counter?.packets === 'number') {
        out.set(rule.chain.slice(3), expr.counter.packets);
      }
    }
  }
  return out;
}
