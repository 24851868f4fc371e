// A snapshot of the network namespace this process is in, for "nothing was left behind"
// checks: the privileged tests compare one taken before and after a pool's life inside their
// sandbox (snapshotNamespace), and the test command (scripts/run-tests.ts) one taken before and
// after the whole run in the root namespace (snapshotHost: the same, plus the named namespaces).
// The test command imports this file from the source as Node runs it (type stripping, before
// anything is built), so it imports node: modules only: not the kit (its index's `.js`
// specifiers do not resolve under type stripping, and a `.ts` path import fails the type check
// of every package that reaches this file through @tapnet/testing). Its one command helper only
// needs stdout or a line saying the command failed, which execFile gives.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface NamespaceState {
  links: string;
  addresses: string;
  routes: string;
  rules: string;
  nft: string;
  iptables: string;
  ip6tables: string;
  sysctls: string;
  processes: string;
}

/** Processes a pool starts, or a test boots: left running, they are a leak. */
const PROCESS_NAMES: readonly string[] = ['dnsmasq', 'qemu-system-x86', 'udhcpc'];

/** The root namespace's state: a namespace's, plus the named network namespaces. */
export interface HostState extends NamespaceState {
  /** Named network namespaces (`ip netns add`), as seen from this mount namespace. */
  netns: string;
  /** What the default state folder holds (a pool's record, dnsmasq's config, leases, pid). */
  stateDir: string;
}

/** tapnet's default state folder: a sandbox mounts its own over it, so the host's stays as it was. */
const STATE_DIR = '/run/tapnet';

/** The paths below `dir`, one a line, sorted; nothing when it does not exist. */
function listing(dir: string): string {
  try {
    return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort().join('\n');
  } catch {
    return '';
  }
}

/** stdout of argv; a failure is recorded as text, so it shows in a difference instead of throwing. */
function output(argv: readonly string[]): Promise<string> {
  const [file, ...args] = argv;
  return new Promise((resolve) => {
    if (!file) return resolve('<empty argv>');
    execFile(file, args, { encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) => {
      resolve(error ? `<${argv.join(' ')} failed: ${(stderr || error.message).trim()}>` : stdout);
    });
  });
}

/** Firewall listings without what moves on its own: packet counters and comment lines. */
export function withoutCounters(text: string): string {
  return text
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .map((line) =>
      line.replace(/\[\d+:\d+\]/g, '[-]').replace(/counter packets \d+ bytes \d+/g, 'counter'),
    )
    .join('\n');
}

/**
 * The firewall's conntrack cap keeps a meter, the dynamic set `conns` (a count per TAP), whose
 * elements come and go with the VMs' traffic: state, not configuration, so not compared.
 */
export function withoutMeterElements(ruleset: string): string {
  return ruleset.replace(/(\bset conns \{[^}]*?flags dynamic)\s*elements = \{[^}]*\}/g, '$1');
}

/**
 * The per-device sysctls tapnet sets or depends on. A sandbox's snapshot reads only these: with
 * a pool of 50 (100-odd devices) every key is some 10,000 files, seconds on a loaded machine, and
 * tests take snapshots in loops.
 */
const POOL_SYSCTLS: readonly string[] = [
  'forwarding',
  'disable_ipv6',
  'accept_ra',
  'rp_filter',
  'proxy_arp',
  'send_redirects',
];

/**
 * net.ipv4/ipv6.conf.<device>.<key> for `keys`, or every readable key (write-only ones such as
 * stable_secret skipped), with ip_forward and ipv6 forwarding.
 */
function sysctls(keys: readonly string[] | 'all'): string {
  const lines: string[] = [];
  for (const file of ['ipv4/ip_forward', 'ipv6/conf/all/forwarding']) {
    lines.push(`${file}=${readFileSync(join('/proc/sys/net', file), 'utf8').trim()}`);
  }
  for (const family of ['ipv4', 'ipv6']) {
    const base = `/proc/sys/net/${family}/conf`;
    for (const dev of readdirSync(base).sort()) {
      for (const key of keys === 'all' ? readdirSync(join(base, dev)).sort() : keys) {
        try {
          lines.push(
            `${family}/${dev}/${key}=${readFileSync(join(base, dev, key), 'utf8').trim()}`,
          );
        } catch {
          // write-only, not a key of this family, or gone with its device while we read
        }
      }
    }
  }
  return lines.join('\n');
}

/**
 * The named processes in this PID namespace (in whichever network namespace they run: a guest's
 * stand-in has its own). From the root namespace, a sandbox's processes (its own PID namespace)
 * are not ours: they die with it. A zombie has exited and only waits for its parent (in a
 * sandbox, a PID 1 that does not reap orphans): not counted.
 */
function processes(): string {
  const ownPidNamespace = readlinkSync('/proc/self/ns/pid');
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (!PROCESS_NAMES.includes(comm) || state === 'Z') continue;
      if (readlinkSync(`/proc/${pid}/ns/pid`) !== ownPidNamespace) continue;
      found.push(comm);
    } catch {
      // exited while we looked
    }
  }
  return found.sort().join('\n');
}

/**
 * What this network namespace holds: links, addresses, routes and rules, firewall rules (nft, iptables, ip6tables), the IPv4/IPv6 sysctls, and the dnsmasq/QEMU/udhcpc
 * processes. Two equal snapshots mean nothing was left behind.
 */
export function snapshotNamespace(): Promise<NamespaceState> {
  return snapshot(POOL_SYSCTLS);
}

async function snapshot(sysctlKeys: readonly string[] | 'all'): Promise<NamespaceState> {
  const [links, addresses, routes, rules, rules6, nft, iptables, ip6tables] = await Promise.all([
    output(['ip', '-o', 'link', 'show']),
    output(['ip', '-o', 'addr', 'show']),
    output(['ip', 'route', 'show', 'table', 'all']),
    output(['ip', 'rule', 'show']),
    output(['ip', '-6', 'rule', 'show']),
    output(['nft', 'list', 'ruleset']),
    output(['iptables-save']),
    output(['ip6tables-save']),
  ]);
  return {
    // Operational state (UP, DOWN, UNKNOWN) and address lifetimes move on their own.
    links: links.replace(/state \S+/g, ''),
    addresses: addresses.replace(/valid_lft \S+ preferred_lft \S+/g, ''),
    routes,
    rules: rules + rules6,
    nft: withoutMeterElements(withoutCounters(nft)),
    iptables: withoutCounters(iptables),
    ip6tables: withoutCounters(ip6tables),
    sysctls: sysctls(sysctlKeys),
    processes: processes(),
  };
}

/**
 * The root namespace: {@link snapshotNamespace} with every sysctl key (taken twice a run, on a
 * host with few devices), plus the named network namespaces. Those are not part of a sandbox's
 * snapshot: a test's stand-in guests have namespaces of their own that may outlive a pool on
 * purpose (the SIGKILL drill's guests do); on the host, none may appear. And what the default
 * state folder holds: every sandbox has its own, so nothing of a test's may appear in the host's.
 */
export async function snapshotHost(): Promise<HostState> {
  const [state, netns] = await Promise.all([snapshot('all'), output(['ip', 'netns', 'list'])]);
  // A namespace gets an id once a device links across to it: not something a test did.
  return { ...state, netns: netns.replace(/ \(id: \d+\)/g, ''), stateDir: listing(STATE_DIR) };
}

/** What differs between two snapshots, one entry per part: its lines gone (-) and added (+). */
export function diffNamespaceState<T extends NamespaceState>(before: T, after: T): string[] {
  const changes: string[] = [];
  for (const key of Object.keys(before) as (keyof T & string)[]) {
    if (before[key] === after[key]) continue;
    const a = new Set(String(before[key]).split('\n'));
    const b = new Set(String(after[key]).split('\n'));
    const gone = [...a].filter((l) => !b.has(l)).map((l) => `  - ${l}`);
    const added = [...b].filter((l) => !a.has(l)).map((l) => `  + ${l}`);
    changes.push(`${key}:\n${[...gone, ...added].join('\n')}`);
  }
  return changes;
}
