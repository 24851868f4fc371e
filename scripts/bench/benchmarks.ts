// The benchmarks `pnpm bench` runs, each in a sandbox of its own: the argv, and the env of a
// full and of a quick (`--quick`) run. Each prints one JSON object on stdout (its `result` in
// the results file, see results.ts) and its progress on stderr. A new benchmark is a line here,
// a renderer under render/ and a section in render/report.ts.

export interface Benchmark {
  name: string;
  argv: string[];
  env: Record<string, string>;
}

/** The benchmarks, with the sizes of a full run or (quick) of a smoke run. */
export function benchmarks(quick: boolean): Benchmark[] {
  return [
    {
      name: 'pool',
      argv: [process.execPath, 'scripts/bench/pool.bench.ts'],
      env: quick
        ? {
            BENCH_SIZES: '1,10',
            BENCH_REPEATS: '1',
            BENCH_ACQUIRE_OPS: '5000',
            BENCH_SCALE_SIZES: '1,10,100',
            BENCH_SCALE_REPEATS: '1',
          }
        : {
            BENCH_SIZES: '1,10,100,250',
            BENCH_REPEATS: '3',
            BENCH_ACQUIRE_OPS: '50000',
            BENCH_SCALE_SIZES: '1,10,100,1000,4096',
            BENCH_SCALE_REPEATS: '2',
          },
    },
    {
      name: 'firewall',
      argv: [process.execPath, 'packages/firewall/bench/scale.ts'],
      env: quick
        ? { BENCH_FW_SIZES: '1,100', BENCH_FW_REQUESTS: '100' }
        : { BENCH_FW_SIZES: '1,100,1000,4096', BENCH_FW_REQUESTS: '400' },
    },
    {
      name: 'proxy',
      argv: [
        process.execPath,
        'packages/metadata-proxy/bench/proxy.bench.ts',
        ...(quick
          ? ['--duration-ms', '300', '--rounds', '2']
          : ['--duration-ms', '2000', '--rounds', '5']),
      ],
      env: {},
    },
    {
      name: 'proxy-networks',
      argv: [process.execPath, 'scripts/bench/proxy-networks.bench.ts'],
      env: quick
        ? { BENCH_PROXY_DURATION_MS: '300', BENCH_PROXY_ROUNDS: '2' }
        : { BENCH_PROXY_DURATION_MS: '2000', BENCH_PROXY_ROUNDS: '5' },
    },
    {
      name: 'proxy-memory',
      argv: [process.execPath, '--expose-gc', 'scripts/bench/proxy-networks.bench.ts', '--memory'],
      env: quick ? { BENCH_MEMORY_SIZES: '50' } : { BENCH_MEMORY_SIZES: '50,250' },
    },
    {
      name: 'guest',
      argv: [process.execPath, 'scripts/bench/guest.bench.ts'],
      env: quick
        ? {
            BENCH_BOOTS: '1',
            BENCH_DEBIAN_BOOTS: '1',
            BENCH_DHCP_SAMPLES: '3',
            BENCH_DNS_QUERIES: '300',
          }
        : {
            BENCH_BOOTS: '3',
            BENCH_DEBIAN_BOOTS: '2',
            BENCH_DHCP_SAMPLES: '10',
            BENCH_DNS_QUERIES: '2000',
          },
    },
    {
      name: 'limits',
      argv: [process.execPath, 'scripts/bench/limits.bench.ts'],
      env: quick
        ? { BENCH_LIMIT_SIZES: '10,100', BENCH_LIMIT_RATES: '10', BENCH_LIMIT_SECONDS: '2' }
        : { BENCH_LIMIT_SIZES: '100,1000,4096', BENCH_LIMIT_RATES: '10,50,200' },
    },
    {
      name: 'noisy',
      argv: [process.execPath, 'scripts/bench/noisy.bench.ts'],
      env: quick ? { BENCH_NOISY_SECONDS: '15' } : { BENCH_NOISY_SECONDS: '30' },
    },
  ];
}
