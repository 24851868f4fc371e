import { DEFAULT_CONNECTIONS, MAX_CONNECTIONS } from '@tapnet/firewall';
import { firstUnknownKey, isIntegerIn, isPlainObject, nullPrototypeCopy } from '@tapnet/internal';
import { InvalidOptionError } from './errors.js';
import { fail } from './option-errors.js';

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
  if (!isPlainObject(input))
    fail('limits', `an object like { connections: ${DEFAULT_CONNECTIONS} }`, input);
  const o = nullPrototypeCopy(input);
  const unknown = firstUnknownKey(o, KNOWN);
  if (unknown !== undefined) {
    throw new InvalidOptionError(
      `limits.${unknown}`,
      `Unknown option \`limits.${unknown}\`; known: ${KNOWN.join(', ')}`,
    );
  }
  const connections = o.connections ?? DEFAULT_CONNECTIONS;
  if (!isIntegerIn(connections, 1, MAX_CONNECTIONS)) {
    fail('limits.connections', `an integer from 1 to ${MAX_CONNECTIONS}`, connections);
  }
  return { connections };
}
