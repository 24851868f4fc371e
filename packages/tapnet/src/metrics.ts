import type { DnsStats, Lease } from '@tapnet/dhcp-dns';
import type { MetadataRequestEvent } from '@tapnet/metadata-proxy';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PoolStatus } from './events.js';
import type { Pool } from './pool.js';

/**
 * A pool's Prometheus metrics (prom-client), for `tapnet serve`'s `/metrics` and for embedders'
 * own registries. Every label value is a network name of the pool, an HTTP status code or one
 * of a fixed few words (direction, DNS answer), so the number of series is bounded by the
 * pool's size, never by what guests send.
 */
export interface PoolMetrics {
  readonly registry: Registry;
  /** Records how long an acquire waited, in seconds (the daemon calls it; embedders may). */
  observeAcquireWait(seconds: number): void;
  /** Stops listening to the pool and removes these metrics from the registry. */
  close(): void;
}

export interface PoolMetricsOptions {
  /** Default: a new Registry of its own. */
  registry?: Registry;
}

/** Status answers every collector of one scrape shares (status() runs the firewall's check). */
function statusCache(pool: Pool): () => Promise<PoolStatus | undefined> {
  let pending: Promise<PoolStatus | undefined> | undefined;
  return () => {
    pending ??= pool
      .status()
      .catch(() => undefined)
      .finally(() => setImmediate(() => (pending = undefined)));
    return pending;
  };
}

/**
 * dnsmasq's counters, asked once per scrape (each ask is a SIGUSR1 and a block of log lines):
 * every DNS collector of one scrape shares the answer.
 */
function dnsStatsCache(pool: Pool): () => Promise<DnsStats | undefined> {
  let pending: Promise<DnsStats | undefined> | undefined;
  return () => {
    pending ??= pool
      .dnsStats()
      .catch(() => undefined)
      .finally(() => setImmediate(() => (pending = undefined)));
    return pending;
  };
}

/** HTTP status codes as labels: 0 (no answer) or 100–599; anything else is `other`. */
function statusLabel(status: number): string {
  return status === 0 || (status >= 100 && status <= 599) ? String(status) : 'other';
}

export function createPoolMetrics(pool: Pool, options: PoolMetricsOptions = {}): PoolMetrics {
  const registry = options.registry ?? new Registry();
  const registers = [registry];
  const status = statusCache(pool);
  const dnsStats = dnsStatsCache(pool);
  const names = new Set(pool.plan.networks.map((n) => n.device));
  const networkLabel = (name: string | undefined) =>
    name !== undefined && names.has(name) ? name : 'none';

  const networks = new Gauge({
    name: 'tapnet_networks',
    help: 'Networks of the pool by state (in_use, available; waiting: acquires waiting for one)',
    labelNames: ['state'],
    registers,
    async collect() {
      const s = await status();
      if (!s) return;
      this.set({ state: 'in_use' }, s.inUse);
      this.set({ state: 'available' }, s.available);
      this.set({ state: 'waiting' }, s.waiting);
    },
  });
  const acquireWait = new Histogram({
    name: 'tapnet_acquire_wait_seconds',
    help: 'How long an acquire waited for a free network',
    buckets: [0.001, 0.01, 0.1, 1, 5, 30, 120, 600],
    registers,
  });
  const requests = new Counter({
    name: 'tapnet_metadata_requests_total',
    help: 'Metadata requests answered, by network and HTTP status (0: no answer)',
    labelNames: ['network', 'status'],
    registers,
  });
  const latency = new Histogram({
    name: 'tapnet_metadata_request_duration_seconds',
    help: 'Metadata request latency, from arrival to the end of the response, by network',
    labelNames: ['network'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers,
  });
  const leases = new Counter({
    name: 'tapnet_dhcp_leases_total',
    help: 'DHCP leases dnsmasq handed out (or renewed), by network',
    labelNames: ['network'],
    registers,
  });
  const perNetwork = (
    name: string,
    help: string,
    pick: (s: PoolStatus['metadata'][string]) => number,
  ) =>
    new Counter({
      name,
      help,
      labelNames: ['network'],
      registers,
      async collect() {
        const s = await status();
        if (!s) return;
        this.reset();
        for (const [network, stats] of Object.entries(s.metadata))
          this.inc({ network }, pick(stats));
      },
    });
  const refused = perNetwork(
    'tapnet_metadata_refused_connections_total',
    'Metadata connections refused at accept (per-network cap, connection rate, no share left)',
    (s) => s.refusedConnections,
  );
  const bytesOut = perNetwork(
    'tapnet_metadata_bytes_out_total',
    'Bytes the metadata service wrote to a network',
    (s) => s.bytesOut,
  );
  const open = new Gauge({
    name: 'tapnet_metadata_open_connections',
    help: 'Open metadata connections by network',
    labelNames: ['network'],
    registers,
    async collect() {
      const s = await status();
      if (!s) return;
      for (const [network, stats] of Object.entries(s.metadata))
        this.set({ network }, stats.openConnections);
    },
  });
  const restarts = new Counter({
    name: 'tapnet_dnsmasq_restarts_total',
    help: 'Times the supervisor restarted dnsmasq',
    registers,
    async collect() {
      const s = await status();
      if (!s) return;
      this.reset();
      this.inc(s.dnsmasq.restarts);
    },
  });
  const dnsmasqUp = new Gauge({
    name: 'tapnet_dnsmasq_up',
    help: '1 while dnsmasq runs',
    registers,
    async collect() {
      const s = await status();
      this.set(s?.dnsmasq.state === 'running' ? 1 : 0);
    },
  });
  const intact = new Gauge({
    name: 'tapnet_firewall_intact',
    help: '1 when every rule of the pool is in place, exactly once',
    registers,
    async collect() {
      const s = await status();
      this.set(s?.firewall.intact ? 1 : 0);
    },
  });
  const reapplied = new Counter({
    name: 'tapnet_firewall_reapplied_total',
    help: 'Times the pool found its rules changed by someone else and applied them again',
    registers,
    async collect() {
      const s = await status();
      if (!s) return;
      this.reset();
      this.inc(s.firewall.reapplied);
    },
  });

  // Traffic limits' counters (tc/nft), only for networks that have a limit in that direction:
  // the kernel counts nothing for an unlimited one, and no series is better than a false 0.
  const trafficCounter = (
    name: string,
    help: string,
    pick: (n: PoolStatus['networks'][number]) => [direction: string, value: number | undefined][],
  ) =>
    new Counter({
      name,
      help,
      labelNames: ['network', 'direction'],
      registers,
      async collect() {
        const s = await status();
        if (!s) return;
        this.reset();
        for (const n of s.networks)
          for (const [direction, value] of pick(n))
            if (value !== undefined) this.inc({ network: n.name, direction }, value);
      },
    });
  const limitedBytes = trafficCounter(
    'tapnet_limited_bytes_total',
    'Bytes through a network’s rate limit, by direction from the VM’s side (egress: sent)',
    (n) => [
      ['egress', n.traffic?.egress?.bytes],
      ['ingress', n.traffic?.ingress?.bytes],
    ],
  );
  const limitedDrops = trafficCounter(
    'tapnet_limited_drops_total',
    'Packets a network’s limits dropped, by direction (packet_rate: the packets-per-second cap)',
    (n) => [
      ['egress', n.traffic?.egress?.drops],
      ['ingress', n.traffic?.ingress?.drops],
      ['packet_rate', n.traffic?.packetsDropped],
    ],
  );

  // dnsmasq's DNS counters (from its SIGUSR1 statistics). They restart at 0 with dnsmasq (a
  // reload or restart), which Prometheus reads as a counter reset. When dnsmasq does not answer,
  // no sample at all (remove()), never a false 0, which would also read as a reset.
  const dnsCounter = (name: string, help: string, pick: (s: DnsStats) => number) =>
    new Counter({
      name,
      help,
      registers,
      async collect() {
        const s = await dnsStats();
        if (!s) return this.remove();
        this.reset();
        this.inc(pick(s));
      },
    });
  const dnsQueries = new Counter({
    name: 'tapnet_dns_queries_total',
    help: 'DNS queries dnsmasq answered, by where the answer came from (local: cache, metadata names, host and DHCP records; forwarded: sent upstream)',
    labelNames: ['answer'],
    registers,
    async collect() {
      const s = await dnsStats();
      this.reset();
      if (!s) return;
      this.inc({ answer: 'local' }, s.answeredLocally);
      this.inc({ answer: 'forwarded' }, s.forwarded);
    },
  });
  const dnsInsertions = dnsCounter(
    'tapnet_dns_cache_insertions_total',
    'Names dnsmasq inserted into its cache',
    (s) => s.insertions,
  );
  const dnsEvictions = dnsCounter(
    'tapnet_dns_cache_evictions_total',
    'Names dnsmasq evicted from its cache before they expired (a cache too small)',
    (s) => s.evictions,
  );
  const dnsCacheSize = new Gauge({
    name: 'tapnet_dns_cache_size',
    help: 'Names dnsmasq’s cache holds at most',
    registers,
    async collect() {
      const s = await dnsStats();
      if (!s) return this.remove();
      this.set(s.cacheSize);
    },
  });

  const onRequest = (r: MetadataRequestEvent) => {
    const network = networkLabel(r.network);
    requests.inc({ network, status: statusLabel(r.status) });
    if (Number.isFinite(r.durationMs)) latency.observe({ network }, r.durationMs / 1000);
  };
  const onLease = (lease: Lease) => leases.inc({ network: networkLabel(lease.network) });
  pool.on('metadata-request', onRequest);
  pool.on('lease', onLease);
  const all = [
    networks,
    acquireWait,
    requests,
    latency,
    leases,
    refused,
    bytesOut,
    open,
    restarts,
    dnsmasqUp,
    intact,
    reapplied,
    limitedBytes,
    limitedDrops,
    dnsQueries,
    dnsInsertions,
    dnsEvictions,
    dnsCacheSize,
  ];
  return {
    registry,
    observeAcquireWait: (seconds) => acquireWait.observe(seconds),
    close() {
      pool.off('metadata-request', onRequest);
      pool.off('lease', onLease);
      for (const metric of all)
        registry.removeSingleMetric((metric as unknown as { name: string }).name);
    },
  };
}
