/**
 * dnsmasq's DNS counters, read from the statistics it logs on SIGUSR1.
 *
 * Why the log and not the CHAOS TXT names (`hits.bind`, `misses.bind`, `servers.bind`, …):
 * dnsmasq answers those only without `no-ident`, and the same switch answers `version.bind` to
 * every guest (see config.ts). The SIGUSR1 dump goes to our own stderr pipe (`--log-facility=-`),
 * which no guest can reach. Under `--keep-in-foreground` (not `--no-daemon`) it is the counters
 * only, no dump of the cache, so its size does not grow with the cache.
 */
export interface DnsStats {
  /** The cache's size in names (`cache-size`). */
  cacheSize: number;
  /** Names inserted into the cache since dnsmasq started. */
  insertions: number;
  /** Insertions that had to evict a name before it expired (a cache too small). */
  evictions: number;
  /** Queries forwarded upstream (answered from neither cache nor local data). */
  forwarded: number;
  /**
   * Queries answered without asking upstream: from the cache, the host and DHCP names, the
   * metadata names, and dnsmasq's own refusals (a local-only domain's NXDOMAIN, say).
   */
  answeredLocally: number;
  /** Queries for authoritative zones (`auth-zone`; none in tapnet's config). */
  authoritative: number;
}

const CACHE = /cache size (\d+), (\d+)\/(\d+) cache insertions re-used unexpired cache entries/;
const QUERIES = /queries forwarded (\d+), queries answered locally (\d+)/;
const AUTH = /queries for authoritative zones (\d+)\s*$/;

/**
 * The counters of the last complete statistics block in `text` (dnsmasq's log lines), or
 * undefined if it holds none: the cache line, then the queries line, then the authoritative
 * line, in that order (a block cut short by the output buffer does not count). Only whole
 * lines count: output arrives in chunks, and `zones 1` may be the start of `zones 12`.
 */
export function parseDnsStats(text: string): DnsStats | undefined {
  const lines = text.split('\n');
  // The last element is the text after the last newline: a line not yet complete.
  for (let at = lines.length - 2; at >= 2; at--) {
    const auth = AUTH.exec(lines[at]!);
    if (!auth) continue;
    const queries = QUERIES.exec(lines[at - 1]!);
    const cache = CACHE.exec(lines[at - 2]!);
    if (!queries || !cache) continue;
    return {
      cacheSize: Number(cache[1]),
      evictions: Number(cache[2]),
      insertions: Number(cache[3]),
      forwarded: Number(queries[1]),
      answeredLocally: Number(queries[2]),
      authoritative: Number(auth[1]),
    };
  }
  return undefined;
}

/** The part of a running dnsmasq `readStats` needs (a `Run` of run.ts). */
export interface StatsSource {
  child: { kill(signal: NodeJS.Signals): void };
  readonly listeners: Set<(text: string) => void>;
}

/**
 * Sends SIGUSR1 and resolves with the counters of the block dnsmasq logs in answer, or
 * undefined if none came within `timeoutMs` (never rejects: a scrape takes it for no sample).
 * Only text that arrives after the signal counts, so an older block is never taken for it.
 * Call it on a dnsmasq that is serving only: before it installs its handlers, SIGUSR1 kills it.
 */
export function readStats(source: StatsSource, timeoutMs: number): Promise<DnsStats | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const finish = (stats: DnsStats | undefined) => {
      clearTimeout(timer);
      source.listeners.delete(listener);
      resolve(stats);
    };
    const listener = (chunk: string) => {
      text += chunk;
      const stats = parseDnsStats(text);
      if (stats) finish(stats);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    source.listeners.add(listener);
    try {
      source.child.kill('SIGUSR1');
    } catch {
      finish(undefined);
    }
  });
}
