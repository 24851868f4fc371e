// Effectful: applies, changes, reads and removes a pool's per-VM traffic limits (see shaping.ts
// for what the scripts do and why).

import { countingRunner } from '@tapnet/internal';
import { execaSync } from 'execa';
import { CommandError, InvalidOptionError } from './errors.js';
import { MAX_DEVICE_NAME_BYTES } from './options.js';
import type { PoolPlan } from './plan.js';
import type { NormalizedTrafficLimits } from './rate.js';
import { defaultRunner, type Runner, type RunnerResult } from './runner.js';
import {
  ifbCreateScript,
  ifbName,
  ifbRemoval,
  type LinkEntry,
  parsePpsCounters,
  parseTcCounters,
  ppsRemoveScript,
  ppsScript,
  ppsTable,
  type QdiscCounters,
  type ShapingChange,
  tcScript,
} from './shaping.js';

/** Runs one OS command synchronously (argv, never a shell); returns whatever the exit code. */
export type SyncRunner = (argv: readonly string[], options?: { input?: string }) => RunnerResult;

/** The real synchronous runner: execaSync with an argv array. */
export const defaultSyncRunner: SyncRunner = (argv, options = {}) => {
  const [file, ...args] = argv;
  if (!file) throw new TypeError('Expected `argv` to have a command, got `[]` (array)');
  const result = execaSync(file, args, {
    reject: false,
    input: options.input ?? '',
    stripFinalNewline: false,
    timeout: 120_000,
  });
  return {
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? '') || (result.failed ? String(result.message ?? '') : ''),
    exitCode: result.exitCode ?? (result.failed ? -1 : 0),
  };
};

export interface ShaperOptions {
  /** Limits every network starts with (and goes back to on `reset`); default none. */
  defaults?: NormalizedTrafficLimits;
  runner?: Runner;
  /** For `setSync` (a test seam). */
  syncRunner?: SyncRunner;
}

/** One network's traffic counters, for the directions it has limits on. */
export interface TrafficCounters {
  /** What the VM sent, through its shaper (the IFB's tbf). */
  egress?: QdiscCounters;
  /** What the VM received, through its shaper (the TAP's tbf). */
  ingress?: QdiscCounters;
  /** Packets the packet-rate cap dropped. */
  packetsDropped?: number;
}

export interface Shaper {
  readonly defaults: NormalizedTrafficLimits;
  /** The limits in force on `device`. */
  limits(device: string): NormalizedTrafficLimits;
  /** Puts `limits` in force on `device` (one process, two or three the first time). */
  set(device: string, limits: NormalizedTrafficLimits): Promise<void>;
  /** `set`, blocking: for callers that must return synchronously (Pool.network()). */
  setSync(device: string, limits: NormalizedTrafficLimits): void;
  /** Counters of every network that has limits (one or two processes). */
  counters(): Promise<Map<string, TrafficCounters>>;
  /** How many processes the shaper has started. */
  processCount(): number;
  /** Deletes the IFBs and the packet-rate table (a TAP's qdiscs go with the TAP). Idempotent. */
  remove(): Promise<void>;
}

interface Step {
  what: string;
  argv: string[];
  input: string;
}

function steps(prefix: string, newIfbs: string[], changes: ShapingChange[]): Step[] {
  const out: Step[] = [];
  if (newIfbs.length > 0) {
    out.push({
      what: 'Could not create the IFB devices',
      argv: ['ip', '-batch', '-'],
      input: ifbCreateScript(prefix, newIfbs),
    });
  }
  const tc = tcScript(changes);
  if (tc)
    out.push({ what: 'Could not apply the rate limits', argv: ['tc', '-batch', '-'], input: tc });
  const nft = ppsScript(prefix, changes);
  if (nft) {
    out.push({
      what: 'Could not apply the packet-rate limits',
      argv: ['nft', '-f', '-'],
      input: nft,
    });
  }
  return out;
}

function check(step: Step, result: RunnerResult): void {
  if (result.exitCode !== 0) {
    throw new CommandError(step.what, {
      argv: step.argv,
      exitCode: result.exitCode,
      stderr: result.stderr,
      input: step.input,
    });
  }
}

/**
 * Puts `defaults` on every network of the plan, whose TAPs must exist: at most three processes
 * whatever the size (`ip -batch` for the IFBs, `tc -batch`, `nft -f`). On failure what was
 * applied is removed and the first error thrown.
 */
export async function createShaper(plan: PoolPlan, options: ShaperOptions = {}): Promise<Shaper> {
  const defaults: NormalizedTrafficLimits = { ...options.defaults };
  const counter = countingRunner(options.runner ?? defaultRunner);
  const run = counter.runner;
  const syncRun = options.syncRunner ?? defaultSyncRunner;
  let syncCount = 0;
  const { prefix } = plan;
  const devices = new Set(plan.networks.map((n) => n.device));
  const current = new Map<string, NormalizedTrafficLimits>();
  const ifbs = new Set<string>();
  let ppsUsed = false;
  const queues = new Map<string, Promise<void>>();
  let removed = false;

  const known = (device: string) => {
    if (!devices.has(device)) {
      throw new InvalidOptionError(
        `Expected \`device\` to be a network of pool \`${prefix}\`, got \`${device}\``,
      );
    }
    if (removed)
      throw new InvalidOptionError(
        `Expected pool \`${prefix}\`'s shaper to be live, got a removed one`,
      );
  };
  const change = (device: string, to: NormalizedTrafficLimits): ShapingChange => ({
    device,
    ifb: ifbName(prefix, device),
    from: current.get(device) ?? {},
    to,
  });
  /** The steps for `changes`, and the IFBs they create (recorded once created). */
  const prepare = (changes: ShapingChange[]) => {
    // Refused before anything runs: `ip link add` would fail half-way through a batch.
    const tooLong = changes.find(
      (c) => c.to.egress && Buffer.byteLength(c.ifb) > MAX_DEVICE_NAME_BYTES,
    );
    if (tooLong) {
      throw new InvalidOptionError(
        `Expected an \`egress\` limit only where its IFB's name fits ${MAX_DEVICE_NAME_BYTES} bytes, got \`${tooLong.ifb}\` (pool \`${prefix}\`: a shorter prefix makes room)`,
      );
    }
    const newIfbs = changes.filter((c) => c.to.egress && !ifbs.has(c.ifb)).map((c) => c.ifb);
    return { newIfbs, list: steps(prefix, newIfbs, changes) };
  };
  const commit = (changes: ShapingChange[], newIfbs: string[]) => {
    for (const n of newIfbs) ifbs.add(n);
    for (const c of changes) {
      current.set(c.device, { ...c.to });
      if (c.to.packetsPerSecond !== undefined) ppsUsed = true;
    }
  };
  /** After a failed change: clear whatever of the device's shaping exists, then put `from` back. */
  const restoreScript = (c: ShapingChange) =>
    `qdisc del dev ${c.device} root\nqdisc del dev ${c.device} ingress\nqdisc del dev ${c.ifb} root\n`;

  async function apply(changes: ShapingChange[]): Promise<void> {
    const { newIfbs, list } = prepare(changes);
    let created = false;
    try {
      for (const step of list) {
        check(step, await run(step.argv, { input: step.input }));
        if (step.argv[0] === 'ip') created = true;
      }
    } catch (error) {
      // Best effort, the first error is the one to report: the devices go back to what they had.
      if (created) for (const n of newIfbs) ifbs.add(n);
      try {
        await run(['tc', '-force', '-batch', '-'], { input: changes.map(restoreScript).join('') });
        const back = changes.map((c) => ({ ...c, from: {}, to: c.from }));
        const again = prepare(back);
        for (const step of again.list) check(step, await run(step.argv, { input: step.input }));
      } catch {
        // reported: the first error
      }
      throw error;
    }
    commit(changes, newIfbs);
  }

  const shaper: Shaper = {
    defaults,
    limits: (device) => {
      known(device);
      return { ...(current.get(device) ?? {}) };
    },
    set: async (device, limits) => {
      known(device);
      const previous = queues.get(device) ?? Promise.resolve();
      // One change at a time per network, so each starts from the state the last one left.
      const next = previous.then(() => apply([change(device, limits)]));
      const tail = next.catch(() => {});
      queues.set(device, tail);
      void tail.then(() => {
        if (queues.get(device) === tail) queues.delete(device);
      });
      return next;
    },
    setSync: (device, limits) => {
      known(device);
      if (queues.has(device)) {
        throw new InvalidOptionError(
          `Expected no change of \`${device}\`'s limits in flight, got one`,
        );
      }
      const c = change(device, limits);
      const { newIfbs, list } = prepare([c]);
      const exec = (step: Step) => {
        syncCount += 1;
        check(step, syncRun(step.argv, { input: step.input }));
        if (step.argv[0] === 'ip') for (const n of newIfbs) ifbs.add(n);
      };
      try {
        for (const step of list) exec(step);
      } catch (error) {
        try {
          syncCount += 1;
          syncRun(['tc', '-force', '-batch', '-'], { input: restoreScript(c) });
          for (const step of prepare([{ ...c, from: {}, to: c.from }]).list) exec(step);
        } catch {
          // reported: the first error
        }
        throw error;
      }
      commit([c], newIfbs);
    },
    counters: async () => {
      const out = new Map<string, TrafficCounters>();
      const shaped = [...current].filter(([, l]) => l.egress || l.ingress || l.packetsPerSecond);
      if (shaped.length === 0) return out;
      const tc = await run(['tc', '-s', '-j', 'qdisc', 'show']);
      const qdiscs = parseTcCounters(tc.exitCode === 0 ? tc.stdout : '');
      let pps = new Map<string, number>();
      if (shaped.some(([, l]) => l.packetsPerSecond !== undefined)) {
        const nft = await run(['nft', '-j', 'list', 'table', 'netdev', ppsTable(prefix)]);
        pps = parsePpsCounters(nft.exitCode === 0 ? nft.stdout : '');
      }
      for (const [device, l] of shaped) {
        const entry: TrafficCounters = {};
        const egress = l.egress && qdiscs.get(ifbName(prefix, device));
        const ingress = l.ingress && qdiscs.get(device);
        if (egress) entry.egress = egress;
        if (ingress) entry.ingress = ingress;
        if (l.packetsPerSecond !== undefined) entry.packetsDropped = pps.get(device) ?? 0;
        out.set(device, entry);
      }
      return out;
    },
    processCount: () => counter.count() + syncCount,
    remove: async () => {
      if (removed) return;
      await Promise.all(queues.values());
      const errors: unknown[] = [];
      if (ifbs.size > 0) {
        try {
          await removeIfbs(run, prefix, ifbs);
          ifbs.clear();
        } catch (error) {
          errors.push(error);
        }
      }
      if (ppsUsed) {
        const input = ppsRemoveScript(prefix);
        const argv = ['nft', '-f', '-'];
        try {
          check(
            { what: 'Could not delete the packet-rate table', argv, input },
            await run(argv, { input }),
          );
          ppsUsed = false;
        } catch (error) {
          errors.push(error);
        }
      }
      if (errors.length > 0) throw errors[0];
      removed = true;
      current.clear();
    },
  };

  const initial = plan.networks.map((n) => change(n.device, defaults));
  if (defaults.egress || defaults.ingress || defaults.packetsPerSecond !== undefined) {
    try {
      await apply(initial);
    } catch (error) {
      await shaper.remove().catch(() => {});
      throw error;
    }
  } else {
    for (const c of initial) current.set(c.device, {});
  }
  return shaper;
}

/**
 * Deletes the pool's IFBs (those in `only`, when given) in one `ip -force -batch`, by their
 * link group when nothing else is in it; reads the devices first. Returns the names deleted.
 */
async function removeIfbs(
  run: Runner,
  prefix: string,
  only?: ReadonlySet<string>,
): Promise<string[]> {
  const listed = await run(['ip', '-details', '-json', 'link', 'show']);
  let links: LinkEntry[] = [];
  try {
    links = listed.exitCode === 0 ? JSON.parse(listed.stdout.trim() || '[]') : [];
  } catch {
    links = [];
  }
  const { script, removed } = ifbRemoval(prefix, links, only);
  if (!script) return [];
  const argv = ['ip', '-force', '-batch', '-'];
  check(
    { what: 'Could not delete the IFB devices', argv, input: script },
    await run(argv, { input: script }),
  );
  return removed;
}

export interface ShapingCleanupReport {
  removedDevices: string[];
  removedTables: string[];
}

/**
 * Removes what a crashed pool's limits left: its IFBs (kind ifb, named `<prefix>_<digits>`,
 * carrying the pool's IFB mark; nothing else) and its packet-rate nft table. The TAPs' own
 * qdiscs went with the TAPs. Two to four processes.
 */
export async function cleanupShaping(
  prefix: string,
  options: { runner?: Runner } = {},
): Promise<ShapingCleanupReport> {
  const run = options.runner ?? defaultRunner;
  const report: ShapingCleanupReport = { removedDevices: [], removedTables: [] };
  report.removedDevices.push(...(await removeIfbs(run, prefix)));
  const tables = await run(['nft', 'list', 'tables', 'netdev']).catch(() => undefined);
  const table = ppsTable(prefix);
  if (
    tables?.exitCode === 0 &&
    tables.stdout.split('\n').some((l) => l.trim() === `table netdev ${table}`)
  ) {
    const argv = ['nft', 'delete', 'table', 'netdev', table];
    check({ what: 'Could not delete the packet-rate table', argv, input: '' }, await run(argv));
    report.removedTables.push(`netdev ${table}`);
  }
  return report;
}

/**
 * The rate limits in force on `devices` (a pool's TAPs) and their counters, read from the
 * kernel (one `tc` process): for another process's pool, e.g. the CLI's `status`. Packet-rate
 * caps are not included (they live in nft).
 */
export async function readTraffic(
  prefix: string,
  devices: readonly string[],
  options: { runner?: Runner } = {},
): Promise<Map<string, Pick<TrafficCounters, 'egress' | 'ingress'>>> {
  const run = options.runner ?? defaultRunner;
  const result = await run(['tc', '-s', '-j', 'qdisc', 'show']);
  const qdiscs = parseTcCounters(result.exitCode === 0 ? result.stdout : '');
  const out = new Map<string, Pick<TrafficCounters, 'egress' | 'ingress'>>();
  for (const device of devices) {
    const egress = qdiscs.get(ifbName(prefix, device));
    const ingress = qdiscs.get(device);
    if (egress || ingress)
      out.set(device, { ...(egress && { egress }), ...(ingress && { ingress }) });
  }
  return out;
}
