import { DEFAULT_CONNECTIONS, MAX_CONNECTIONS } from '@tapnet/firewall';
import { describeValue, InvalidOptionError } from './errors.js';

/** Per-VM limits (the start of issue 14's `limits`): the same for every network of a pool. */
export interface Limits {
  /**
   * Most connections one VM may have tracked by conntrack at once (TCP in TIME_WAIT not
   * counted); its new ones beyond are dropped. Default 8192 (see @tapnet/firewall).
   */
  connections?: number;
}

export interface NormalizedLimits {
  connections: number;
}

const KNOWN = ['connections'];

/** Validates `limits` (the facade's option) and fills its defaults. Pure. */
export function normalizeLimits(input: unknown): NormalizedLimits {
  if (input === undefined) return { connections: DEFAULT_CONNECTIONS };
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidOptionError(
      'limits',
      `Expected \`limits\` to be an object like { connections: 8192 }, got ${describeValue(input)}`,
    );
  }
  const o: Record<string, unknown> = Object.assign(Object.create(null), input);
  for (const key of Object.keys(o)) {
    if (!KNOWN.includes(key)) {
      throw new InvalidOptionError(
        `limits.${key}`,
        `Unknown option \`limits.${key}\`; known: ${KNOWN.join(', ')}`,
      );
    }
  }
  const connections = o.connections ?? DEFAULT_CONNECTIONS;
  if (
    typeof connections !== 'number' ||
    !Number.isInteger(connections) ||
    connections < 1 ||
    connections > MAX_CONNECTIONS
  ) {
    throw new InvalidOptionError(
      'limits.connections',
      `Expected \`limits.connections\` to be an integer from 1 to ${MAX_CONNECTIONS}, got ${describeValue(connections)}`,
    );
  }
  return { connections };
}
