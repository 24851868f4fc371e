// The load generator of the metadata proxy benchmarks (scripts/bench/proxy-networks.bench.ts,
// packages/metadata-proxy/bench/proxy.bench.ts): raw keep-alive sockets, one request in flight
// per connection, each response read whole (Content-Length framed) before the next request,
// bounded by time and by a request budget shared by the connections. Raw sockets rather than an
// HTTP client, so the client's own cost stays small and the same for every server measured.
//
//   loadInWorker(job)  runs load(job) in a worker thread (its own event loop, so the client does
//                      not queue behind the servers' callbacks): what the benchmarks use.
//   load(job)          the same in this thread.
//   summarize(runs)    requests/s over the runs, p50/p99 latency, errors.
//   ratios(a, b)       per-run throughput ratios a[i] / b[i] (rounds alternate the servers).
import { once } from 'node:events';
import { connect } from 'node:net';
import { Worker } from 'node:worker_threads';
import { percentile, round } from '../lib.ts';

/** One load run against one server. */
export interface LoadJob {
  /** Where the server listens. */
  host: string;
  port: number;
  /** Keep-alive connections, each with one request in flight. */
  connections: number;
  /** The run ends after this long, or when `maxRequests` were sent, whichever is first. */
  durationMs: number;
  maxRequests: number;
  /**
   * Source addresses: connection j binds `localAddresses[j % length]` (to send as many
   * networks). Default: the kernel picks.
   */
  localAddresses?: readonly string[];
  /** The raw request, sent again and again. Default: {@link DEFAULT_REQUEST}. */
  request?: string;
}

export interface LoadResult {
  requests: number;
  /** Connection errors, and responses other than 200. */
  errors: number;
  elapsedMs: number;
  latenciesMs: number[];
}

export interface LoadSummary {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
}

/** A metadata GET, as a guest sends it. */
export const DEFAULT_REQUEST =
  'GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n';

/** One keep-alive connection: send, read a whole response, repeat until the deadline or budget. */
function drive(
  job: LoadJob,
  request: Buffer,
  localAddress: string | undefined,
  deadline: number,
  budget: { left: number },
  result: LoadResult,
): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({
      port: job.port,
      host: job.host,
      noDelay: true,
      ...(localAddress !== undefined && { localAddress }),
    });
    let buffer: Buffer = Buffer.alloc(0);
    let sentAt = 0;
    const send = () => {
      if (performance.now() >= deadline || budget.left <= 0) {
        socket.end();
        return resolve();
      }
      budget.left--;
      sentAt = performance.now();
      socket.write(request);
    };
    socket.on('connect', send);
    socket.on('error', () => {
      result.errors++;
      resolve();
    });
    socket.on('close', () => resolve());
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffer.subarray(0, end).toString('latin1');
        const match = /\r\ncontent-length: *(\d+)/i.exec(head);
        const length = match ? Number(match[1]) : 0;
        if (buffer.length < end + 4 + length) return;
        if (!head.startsWith('HTTP/1.1 200')) result.errors++;
        buffer = buffer.subarray(end + 4 + length);
        result.requests++;
        result.latenciesMs.push(performance.now() - sentAt);
        send();
      }
    });
  });
}

/** Runs `job` in this thread. */
export async function load(job: LoadJob): Promise<LoadResult> {
  const result: LoadResult = { requests: 0, errors: 0, elapsedMs: 0, latenciesMs: [] };
  const request = Buffer.from(job.request ?? DEFAULT_REQUEST, 'latin1');
  const sources = job.localAddresses ?? [];
  const started = performance.now();
  const budget = { left: job.maxRequests };
  await Promise.all(
    Array.from({ length: job.connections }, (_, j) =>
      drive(
        job,
        request,
        sources.length > 0 ? sources[j % sources.length] : undefined,
        started + job.durationMs,
        budget,
        result,
      ),
    ),
  );
  result.elapsedMs = performance.now() - started;
  return result;
}

/** Runs `job` in a worker thread of its own and returns what it measured. */
export async function loadInWorker(job: LoadJob): Promise<LoadResult> {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { workerData: job });
  try {
    const [result] = (await Promise.race([
      once(worker, 'message'),
      once(worker, 'error').then(([error]) => Promise.reject(error)),
    ])) as [LoadResult];
    return result;
  } finally {
    await worker.terminate();
  }
}

/** Requests/s over all the runs, and the nearest-rank p50/p99 of their pooled latencies. */
export function summarize(runs: readonly LoadResult[]): LoadSummary {
  const requests = runs.reduce((n, r) => n + r.requests, 0);
  const elapsed = runs.reduce((n, r) => n + r.elapsedMs, 0);
  const latencies = runs.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  return {
    requestsPerSecond: Math.round((requests / elapsed) * 1000),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    requests,
    errors: runs.reduce((n, r) => n + r.errors, 0),
  };
}

/** Throughput of a[i] over b[i], per round (a and b measured alternately, round by round). */
export function ratios(a: readonly LoadResult[], b: readonly LoadResult[]): number[] {
  const rate = (r: LoadResult) => r.requests / r.elapsedMs;
  return a.map((x, i) => {
    const y = b[i];
    if (!y) throw new Error(`Expected as many runs on each side, got ${a.length} and ${b.length}`);
    return rate(x) / rate(y);
  });
}
