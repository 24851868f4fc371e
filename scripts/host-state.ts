// A snapshot of the root network namespace, taken before and after the test run: the run fails
// when anything in it changed (links, addresses, routes, rules, firewall, sysctls, namespaces,
// dnsmasq/qemu processes).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

function run(argv: string[]): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    return `<${argv.join(' ')} failed: ${String(e.stderr ?? e.message).trim()}>`;
  }
}

// Counters move on their own; they are not state we could have changed.
const stripCounters = (text: string): string =>
  text
    .split('\n')
    .filter((line: string) => !line.startsWith('#'))
    .map((line: string) =>
      line.replace(/\[\d+:\d+\]/g, '[-]').replace(/counter packets \d+ bytes \d+/g, 'counter'),
    )
    .join('\n');

function sysctls() {
  const lines = [];
  for (const file of ['ipv4/ip_forward', 'ipv6/conf/all/forwarding']) {
    lines.push(`${file}=${readFileSync(join('/proc/sys/net', file), 'utf8').trim()}`);
  }
  for (const family of ['ipv4', 'ipv6']) {
    const base = `/proc/sys/net/${family}/conf`;
    for (const dev of readdirSync(base).sort()) {
      for (const key of readdirSync(join(base, dev)).sort()) {
        try {
          lines.push(
            `${family}/${dev}/${key}=${readFileSync(join(base, dev, key), 'utf8').trim()}`,
          );
        } catch {
          // write-only keys (stable_secret) are not readable
        }
      }
    }
  }
  return lines.join('\n');
}

// Only processes in this (the root) network namespace: those inside a sandbox die with it.
function processes() {
  const names = new Set(['dnsmasq', 'qemu-system-x86', 'udhcpc']);
  const hostNetns = readlinkSync('/proc/self/ns/net');
  const found = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      if (names.has(comm) && readlinkSync(`/proc/${pid}/ns/net`) === hostNetns)
        found.push(`${comm} ${pid}`);
    } catch {
      // gone while we looked
    }
  }
  return found.sort().join('\n');
}

export type HostState = Record<string, string>;

export function hostState(): HostState {
  return {
    links: run(['ip', '-o', 'link', 'show']).replace(/state \S+/g, ''),
    addresses: run(['ip', '-o', 'addr', 'show']).replace(/valid_lft \S+ preferred_lft \S+/g, ''),
    routes: run(['ip', 'route', 'show', 'table', 'all']),
    rules: run(['ip', 'rule', 'show']) + run(['ip', '-6', 'rule', 'show']),
    netns: run(['ip', 'netns', 'list']),
    nft: stripCounters(run(['nft', 'list', 'ruleset'])),
    iptables: stripCounters(run(['iptables-save'])),
    ip6tables: stripCounters(run(['ip6tables-save'])),
    sysctls: sysctls(),
    processes: processes(),
  };
}

export function diffHostState(before: HostState, after: HostState): string[] {
  const changes = [];
  for (const key of Object.keys(before)) {
    if (before[key] === after[key]) continue;
    const a = new Set((before[key] ?? '').split('\n'));
    const b = new Set((after[key] ?? '').split('\n'));
    const gone = [...a].filter((l) => !b.has(l)).map((l) => `  - ${l}`);
    const added = [...b].filter((l) => !a.has(l)).map((l) => `  + ${l}`);
    changes.push(`${key}:\n${[...gone, ...added].join('\n')}`);
  }
  return changes;
}
