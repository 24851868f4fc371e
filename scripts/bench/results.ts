// The shape of a benchmark run's results file (.test-results/bench/<time>.json): what
// scripts/bench.ts measures and saves, and all its renderers read. Each benchmark prints its own
// `result` object; only the fields the report reads are declared here, so a benchmark may print
// more without changing this file.

/** A run of `pnpm bench`. */
export interface BenchResults {
  quick: boolean;
  /** ISO time the run began. */
  date: string;
  /** The commit measured, `+dirty` when the work tree had changes. */
  commit?: string | undefined;
  machine: Machine;
  loadavgBefore: string;
  loadavgAfter?: string;
  benchmarks: Partial<Record<string, BenchRecord>>;
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  memAvailableGiB: number;
  kernel: string | undefined;
  node: string;
  qemu: string | undefined;
  nft: string | undefined;
  iptables: string | undefined;
  dnsmasq: string | undefined;
  busybox: string | undefined;
  kvm: string;
}

/** One benchmark's run: how it was started, how it ended, and what it printed. */
export interface BenchRecord {
  name: string;
  argv: string[];
  env: Record<string, string>;
  exit: number | string | null;
  seconds: number;
  loadavgBefore: string;
  loadavgAfter: string;
  /** A remark added by hand to a saved results file (e.g. why a section was re-measured). */
  note?: string;
  /** The benchmark's JSON output; absent when it printed none. */
  result?: unknown;
  error?: string;
}

export interface StepSummary {
  setupMs: number;
  setupPids: number;
  teardownMs: number;
  teardownPids: number;
}

export interface LatencySummary {
  ops: number;
  opsPerSec: number;
  p50us: number;
  p99us: number;
  maxUs: number;
}

export type Backend = 'nft' | 'iptables';

/** scripts/bench/pool.bench.ts */
export interface PoolResult {
  sizes: number[];
  repeats: number;
  original: Record<number, StepSummary>;
  originalCommands?: Record<number, { setup: number; teardown: number }>;
  network: Record<Backend, Record<number, StepSummary>>;
  pool: Record<Backend, Record<number, StepSummary>>;
  acquire?: {
    poolSize: number;
    cycle: LatencySummary;
    fillAcquire: LatencySummary;
    fillRelease: LatencySummary;
    asyncCycle: LatencySummary;
    baselineCycle?: LatencySummary;
  };
  /** Pool.create / dispose from 1 to 4096 networks (scripts/bench/pool-scale.ts). */
  scale?: PoolScaleResult;
}

/** One size on one backend: medians, each run, and memory. */
export interface ScaleSummary {
  createMs: number;
  disposeMs: number;
  createMsRuns: number[];
  disposeMsRuns: number[];
  /** The benchmark process's RSS with the pool up minus before (KiB). */
  nodeRssKiB: number;
  /** dnsmasq's RSS with the pool up (KiB). */
  dnsmasqRssKiB: number;
  /** (nodeRssKiB + dnsmasqRssKiB) / networks. */
  kiBPerNetwork: number;
}

export interface PoolScaleResult {
  sizes: number[];
  repeats: number;
  subnet: string;
  prefixLength: number;
  loadavgStart: string;
  loadavgEnd?: string;
  backends: Record<Backend, Record<number, ScaleSummary>>;
  /** What failed, by backend and size (the error's message, cut to 300 characters). */
  errors: Record<Backend, Record<number, string>>;
}

export interface LoadStats {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** The server thread's CPU time per request (proxy.bench.ts, when the server is on it). */
  cpuUsPerRequest?: number;
}

/** packages/metadata-proxy/bench/proxy.bench.ts */
export interface ProxyResult {
  benchmark: string;
  connections: number;
  rounds: number;
  durationMsPerRound: number;
  hardening: string;
  bare: LoadStats;
  proxy: LoadStats;
  proxyFetch: LoadStats;
  proxyThroughputRatio: number;
  proxyThroughputRatioPerRound: number[];
  target: number;
  // Since the fetch fast path (issue 13); absent from older results files.
  hono?: LoadStats;
  honoGlobals?: LoadStats;
  upstream?: LoadStats;
  proxyForward?: LoadStats;
  proxyForwardUnix?: LoadStats;
  proxyFetchThroughputRatio?: number;
  proxyFetchThroughputRatioPerRound?: number[];
  honoThroughputRatio?: number;
  honoGlobalsThroughputRatio?: number;
  proxyForwardThroughputRatio?: number;
  proxyForwardThroughputRatioPerRound?: number[];
  proxyForwardUnixThroughputRatio?: number;
  fetchTarget?: number;
  proxyCpuRatio?: number;
  proxyFetchCpuRatio?: number;
  honoCpuRatio?: number;
  // A fetch handler returning tapnet's own Response (issue 13); absent from older results.
  proxyFetchTapnet?: LoadStats;
  proxyFetchTapnetThroughputRatio?: number;
  proxyFetchTapnetThroughputRatioPerRound?: number[];
  proxyFetchTapnetCpuRatio?: number;
}

/** scripts/bench/proxy-networks.bench.ts (without --memory) */
export interface ProxyNetworksResult {
  networksRegistered: number;
  connections: number;
  rounds: number;
  durationMsPerRound: number;
  hardening: string;
  scenarios: Record<
    string,
    {
      bare: LoadStats;
      proxy: LoadStats;
      throughputRatio: number;
      throughputRatioPerRound: number[];
    }
  >;
}

export interface MemoryFigures {
  heapBytes: number;
  rssBytes: number;
}

/** scripts/bench/proxy-networks.bench.ts --memory */
export interface ProxyMemoryResult {
  base: MemoryFigures;
  steps: {
    networks: number;
    openConnections: number;
    perNetwork: {
      registeredHeapBytes: number;
      registeredRssBytes: number;
      connectedHeapBytes: number;
      connectedRssBytes: number;
    };
  }[];
}

export interface BootRun {
  initMs?: number;
  nicMs?: number;
  leaseMs?: number;
  dnsMs?: number;
  firstMetadataRequestMs?: number;
  exitMs?: number;
}

export interface SampleStats {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  minMs: number;
  maxMs: number;
  errors?: number;
}

/** scripts/bench/guest.bench.ts */
export interface GuestResult {
  boots?: {
    count: number;
    accel: string;
    baseline: BootRun[];
    runs: BootRun[];
    median: {
      baselineInitMs: number;
      initMs: number;
      nicMs: number;
      leaseMs: number;
      dnsMs: number;
      firstMetadataRequestMs: number;
      initToFirstRequestMs: number;
      nicToLeaseMs: number;
    };
  };
  debian?: {
    count: number;
    accel: string;
    byName: boolean;
    rootfsBytes: number;
    initrdBytes: number;
    runs: BootRun[];
    median: { firstMetadataRequestMs: number; exitMs: number };
  };
  dhcp?: {
    newMacOffer?: SampleStats;
    knownMacOffer?: SampleStats;
    newMac: SampleStats;
    knownMac: SampleStats;
    newMacWithProcessStart: SampleStats;
  };
  dns?: { dnsmasq: SampleStats; baseline: SampleStats };
}

export interface KindStats {
  p50Ms: number | null;
  p99Ms: number | null;
  failures: number;
  samples: number;
}

export type NoisyKind = 'dhcp' | 'dns' | 'metadata';

/** scripts/bench/noisy.bench.ts (the drill's result file) */
export interface NoisyResult {
  drillPassed: boolean;
  periodMs: number;
  seconds: number;
  timeoutMs: number;
  metadataP99LimitMs: number;
  conntrackPeak: number;
  baseline: Record<NoisyKind, KindStats>;
  attacked: Record<NoisyKind, KindStats>;
  attacker: {
    connectionFlood: { attempted: number; peakHeld: number };
    connectionFloodAnswers: Record<string, number>;
    slowHeaders: { attempted: number; peakHeld: number };
    requestFlood: { sent: number };
    requestFloodStatuses: Record<string, number>;
    dhcpStarvation: { discovers: number; acks: number };
    dnsFlood: { sent: number; answered: number };
    conntrackFlood: { udpSent: number; tcpAttempted: number };
  };
}

/** scripts/bench/limits.bench.ts */
export interface LimitsResult {
  seconds: number;
  costs: {
    size: number;
    limits: string;
    applyMs: number;
    applyPids: number;
    setOneMs: number;
    setOnePids: number;
    countersMs: number;
    countersPids: number;
    removeMs: number;
    removePids: number;
    processCount: number;
  }[];
  rates: {
    limitMbit: number | null;
    direction: string;
    measuredMbit: number;
    ratio: number | null;
  }[];
}

/** packages/firewall/bench/scale.ts: the firewall alone, per backend and size. */
export interface FirewallScaleResult {
  loadStart: string;
  loadEnd: string;
  /** Requests per latency sample (the first tenth dropped as warm-up). */
  requests: number;
  results: {
    backend: string;
    size: number;
    applyMs: number;
    reapplyMs: number;
    statusMs: number;
    watchRepairMs: number;
    removeMs: number;
    /** A VM stand-in's request to the metadata address through the ruleset, new TCP connection each. */
    perPacket: { p50: number; p90: number; p99: number };
  }[];
}
