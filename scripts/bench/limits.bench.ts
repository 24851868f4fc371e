// Per-VM traffic limits (issue 14): what applying them costs at pool sizes up to 4096 (time and
// processes for a pool's defaults, one network's change, the counters, the removal), and the
// rates iperf3 measures against the configured ones. Prints JSON on stdout.
//
// The rates are measured on a veth stand-in named like a pool's network (the other end in a
// namespace), not through QEMU: tc shapes a device the same whatever its kind, and the veth
// keeps QEMU's hub (and its CPU) out of the numbers. The packet tests measure through QEMU.
//
// Env: BENCH_LIMIT_SIZES (default 100,1000,4096), BENCH_LIMIT_RATES (mbit, default 10,50,200),
// BENCH_LIMIT_SECONDS (4), BENCH_LIMIT_SETS (20).
import { execFileSync, spawn } from 'node:child_process';
import {
  createShaper,
  createTapPool,
  normalizeTrafficLimits,
  planPool,
} from '../../packages/tap-pool/dist/index.js';
import { assertSandbox, loadavg, median, numberList, pidCursor, progress, round } from './lib.ts';

assertSandbox();
const sizes = numberList(process.env.BENCH_LIMIT_SIZES, '100,1000,4096');
const rates = numberList(process.env.BENCH_LIMIT_RATES, '10,50,200');
const seconds = Number(process.env.BENCH_LIMIT_SECONDS ?? 4);
const sets = Number(process.env.BENCH_LIMIT_SETS ?? 20);

interface Step {
  ms: number;
  pids: number;
}

async function measure(fn: () => Promise<unknown>): Promise<Step> {
  const pid0 = pidCursor();
  const t0 = performance.now();
  await fn();
  return { ms: round(performance.now() - t0, 1), pids: pidCursor() - pid0 };
}

const run = (argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });

/** Cost of a pool's default limits at `size` networks, `what` naming the limits. */
async function cost(size: number, what: string, limits: object) {
  const plan = planPool({
    size,
    prefix: 'bl',
    subnet: '10.232.0.0/16',
    prefixLength: 28,
    stateDir: '/run/tapnet',
  });
  const taps = await createTapPool(plan, { ipForward: false });
  try {
    const defaults = normalizeTrafficLimits(limits);
    let shaper: Awaited<ReturnType<typeof createShaper>> | undefined;
    const apply = await measure(async () => {
      shaper = await createShaper(plan, { defaults });
    });
    const one: Step[] = [];
    for (let i = 0; i < sets; i++) {
      const device = plan.networks[i % size]!.device;
      const next = normalizeTrafficLimits({ ingress: `${20 + (i % 2)}mbit` }, { base: defaults });
      one.push(await measure(() => shaper!.set(device, next)));
    }
    const counters = await measure(() => shaper!.counters());
    const remove = await measure(() => shaper!.remove());
    return {
      size,
      limits: what,
      applyMs: apply.ms,
      applyPids: apply.pids,
      setOneMs: round(median(one.map((s) => s.ms)), 1),
      setOnePids: median(one.map((s) => s.pids)),
      countersMs: counters.ms,
      countersPids: counters.pids,
      removeMs: remove.ms,
      removePids: remove.pids,
      processCount: shaper!.processCount(),
    };
  } finally {
    await taps.remove();
  }
}

/** iperf3 from the stand-in's namespace to the host: bits per second the receiver got. */
function iperf(direction: 'upload' | 'download'): number {
  const argv = ['ip', 'netns', 'exec', 'blvm', 'iperf3', '-c', '10.9.0.1', '-t', String(seconds)];
  argv.push('-O', '1', '-J', ...(direction === 'download' ? ['-R'] : []));
  const report = JSON.parse(run(argv)) as { end: { sum_received: { bits_per_second: number } } };
  return report.end.sum_received.bits_per_second;
}

async function measuredRates() {
  run(['ip', 'netns', 'add', 'blvm']);
  run(['ip', 'link', 'add', 'bv0', 'type', 'veth', 'peer', 'name', 'bvp']);
  run(['ip', 'link', 'set', 'bvp', 'netns', 'blvm']);
  run(['ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'bv0']);
  run(['ip', 'link', 'set', 'bv0', 'up']);
  for (const argv of [
    ['ip', 'addr', 'add', '10.9.0.2/24', 'dev', 'bvp'],
    ['ip', 'link', 'set', 'bvp', 'up'],
    ['ip', 'link', 'set', 'lo', 'up'],
  ])
    run(['ip', 'netns', 'exec', 'blvm', ...argv]);
  const server = spawn('iperf3', ['-s', '-B', '10.9.0.1'], { stdio: 'ignore' });
  const plan = planPool({ size: 1, prefix: 'bv', subnet: '10.9.0.0/24', stateDir: '/run/tapnet' });
  const shaper = await createShaper(plan);
  const rows: {
    limitMbit: number | null;
    direction: string;
    measuredMbit: number;
    ratio: number | null;
  }[] = [];
  try {
    for (let i = 0; i < 50 && !run(['ss', '-ltn']).includes('10.9.0.1:5201'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const mbit of [null, ...rates]) {
      const limit = mbit === null ? {} : { egress: `${mbit}mbit`, ingress: `${mbit}mbit` };
      await shaper.set('bv0', normalizeTrafficLimits(limit));
      for (const direction of ['upload', 'download'] as const) {
        const bps = iperf(direction);
        const measuredMbit = round(bps / 1e6, 2);
        progress(`limits: ${mbit ?? 'none'} mbit ${direction}: ${measuredMbit} mbit/s`);
        rows.push({
          limitMbit: mbit,
          direction,
          measuredMbit,
          ratio: mbit === null ? null : round(measuredMbit / mbit, 3),
        });
      }
    }
  } finally {
    server.kill();
    await shaper.remove();
    run(['ip', 'netns', 'del', 'blvm']);
  }
  return rows;
}

const loadavgBefore = loadavg();
const costs = [];
for (const size of sizes) {
  for (const [what, limits] of [
    ['egress+ingress+pps', { egress: '100mbit', ingress: '100mbit', packetsPerSecond: 10_000 }],
    ['ingress only', { ingress: '100mbit' }],
  ] as const) {
    progress(`limits: applying ${what} to ${size} networks`);
    costs.push(await cost(size, what, limits));
  }
}
const measured = await measuredRates();
process.stdout.write(
  `${JSON.stringify({ loadavgBefore, loadavgAfter: loadavg(), costs, rates: measured, seconds })}\n`,
);
