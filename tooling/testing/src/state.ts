import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './run.js';

export interface NamespaceState {
  links: string;
  addresses: string;
  routes: string;
  nft: string;
  iptables: string;
  ip6tables: string;
  sysctls: string;
  processes: string;
}

const normalise = (text: string) =>
  text
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .map((line) =>
      line
        .replace(/\[\d+:\d+\]/g, '[-]')
        .replace(/counter packets \d+ bytes \d+/g, 'counter')
        .replace(/valid_lft \S+ preferred_lft \S+/g, '')
        .replace(/state \S+/g, ''),
    )
    .join('\n');

function sysctls(): string {
  const lines = [`ipv4/ip_forward=${readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim()}`];
  for (const family of ['ipv4', 'ipv6']) {
    const base = `/proc/sys/net/${family}/conf`;
    for (const dev of readdirSync(base).sort()) {
      for (const key of [
        'forwarding',
        'disable_ipv6',
        'accept_ra',
        'rp_filter',
        'proxy_arp',
        'send_redirects',
      ]) {
        try {
          lines.push(
            `${family}/${dev}/${key}=${readFileSync(join(base, dev, key), 'utf8').trim()}`,
          );
        } catch {
          // not a key of this family
        }
      }
    }
  }
  return lines.join('\n');
}

function processes(names: readonly string[]): string {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      // A zombie has exited; it waits only for its parent (in a sandbox, a PID 1 that does not
      // reap orphans), and holds no resources worth reporting.
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (names.includes(comm) && state !== 'Z') found.push(comm);
    } catch {
      // exited
    }
  }
  return found.sort().join('\n');
}

/**
 * The firewall's conntrack cap keeps a meter, the dynamic set `conns` (a count per TAP), whose
 * elements come and go with the VMs' traffic: state, not configuration, so not compared.
 */
export function withoutMeterElements(ruleset: string): string {
  return ruleset.replace(/(\bset conns \{[^}]*?flags dynamic)\s*elements = \{[^}]*\}/g, '$1');
}

/**
 * What the current (sandbox) namespace holds: links, addresses, routes, firewall rules, the
 * sysctls tapnet touches and the dnsmasq/qemu processes. Two equal snapshots mean nothing was
 * left behind.
 */
export async function snapshotNamespace(): Promise<NamespaceState> {
  const out = async (argv: string[]) => normalise((await run(argv)).stdout);
  return {
    links: await out(['ip', '-o', 'link', 'show']),
    addresses: await out(['ip', '-o', 'addr', 'show']),
    routes: await out(['ip', 'route', 'show', 'table', 'all']),
    nft: withoutMeterElements(await out(['nft', 'list', 'ruleset'])),
    iptables: await out(['iptables-save']),
    ip6tables: await out(['ip6tables-save']),
    sysctls: sysctls(),
    processes: processes(['dnsmasq', 'qemu-system-x86']),
  };
}
