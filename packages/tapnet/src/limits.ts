import { DEFAULT_CONNECTIONS, MAX_CONNECTIONS } from '@tapnet/firewall';
import { describeValue, isIntegerIn, isPlainObject, nullPrototypeCopy } from '@tapnet/internal';
import {
  ifbNamesFit,
  type NormalizedTrafficLimits,
  normalizeTrafficLimits,
  type TrafficLimits,
} from '@tapnet/tap-pool';
import { InvalidOptionError } from './errors.js';
import { fail } from './option-errors.js';

/**
 * Per-VM limits (issue 14; libvirt's `<bandwidth>`). Given to `Pool.create` they are every
 * network's default; `pool.network({ limits })`, `acquire({ limits })` and
 * `network.setLimits()` override `egress`, `ingress` and `packetsPerSecond` for one VM (`null`:
 * none), until the network is released. Directions are the VM's: `egress` is what it sends.
 */
export interface Limits extends TrafficLimits {
  /**
   * Most connections one VM may have tracked by conntrack at once (TCP in TIME_WAIT not
   * counted); its new ones beyond are dropped. Default 8192 (see @tapnet/firewall). Per pool.
   */
  connections?: number;
}

/** The per-VM part a network can override. */
export type NetworkLimits = TrafficLimits;

export interface NormalizedLimits {
  connections: number;
  /** Every network's default traffic limits; empty: none. */
  traffic: NormalizedTrafficLimits;
}

/**
 * An `egress` limit needs an IFB named `<prefix>_<index>`, one byte longer than the TAP: refused
 * here, before anything is made, when the pool's prefix leaves it no room. Pure.
 */
export function assertEgressFits(
  limits: NormalizedTrafficLimits,
  plan: { prefix: string; size: number },
  path = 'limits',
): void {
  if (limits.egress === undefined || ifbNamesFit(plan.prefix, plan.size)) return;
  throw new InvalidOptionError(
    `${path}.egress`,
    `Expected \`${path}.egress\` only with a prefix that leaves room for its IFB \`${plan.prefix}_${plan.size - 1}\` (15 bytes at most), got prefix ${describeValue(plan.prefix)} with ${plan.size} networks: use a shorter prefix`,
  );
}

/** Wraps tap-pool's validation error in the facade's, naming the option's path. */
function wrapped<T>(fn: () => T, option: string): T {
  try {
    return fn();
  } catch (error) {
    if ((error as { code?: unknown })?.code !== 'ERR_INVALID_OPTION') throw error;
    const message = (error as Error).message;
    const path = /`([^`]+)`/.exec(message)?.[1] ?? option;
    throw new InvalidOptionError(path, message, { cause: error });
  }
}

/** Validates `limits` (the facade's option) and fills its defaults. Pure. */
export function normalizeLimits(input: unknown): NormalizedLimits {
  if (input === undefined) return { connections: DEFAULT_CONNECTIONS, traffic: {} };
  if (!isPlainObject(input)) {
    fail(
      'limits',
      `an object like { egress: '100mbit', connections: ${DEFAULT_CONNECTIONS} }`,
      input,
    );
  }
  const o = nullPrototypeCopy(input);
  const traffic = wrapped(
    () => normalizeTrafficLimits(o, { path: 'limits', otherKeys: ['connections'] }),
    'limits',
  );
  const connections = o.connections ?? DEFAULT_CONNECTIONS;
  if (!isIntegerIn(connections, 1, MAX_CONNECTIONS)) {
    fail('limits.connections', `an integer from 1 to ${MAX_CONNECTIONS}`, connections);
  }
  return { connections, traffic };
}

/**
 * One network's traffic limits: `input` laid over the pool's default. `connections` is refused:
 * the conntrack cap is the pool's. Pure.
 */
export function networkLimits(
  input: unknown,
  base: NormalizedTrafficLimits,
  path = 'limits',
): NormalizedTrafficLimits {
  if (typeof input === 'object' && input !== null && Object.hasOwn(input, 'connections')) {
    throw new InvalidOptionError(
      `${path}.connections`,
      `Expected \`${path}\` without \`connections\` (the conntrack cap is set per pool, in Pool.create's \`limits\`), got ${describeValue(input)}`,
    );
  }
  return wrapped(() => normalizeTrafficLimits(input, { path, base }), path);
}
