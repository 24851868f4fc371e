import { createHash } from 'node:crypto';
import { describeValue } from '@tapnet/internal';
import { InvalidQemuArgError } from './errors.js';

/**
 * A MAC address derived from `seed` by SHA-256: the same seed always gives the same address,
 * with the locally-administered bit set and the multicast bit clear, lower-case `xx:xx:...`.
 */
export function macFromSeed(seed: string): string {
  if (typeof seed !== 'string')
    throw new InvalidQemuArgError(
      `Expected \`seed\` to be a string, got ${describeValue(seed)}`,
      'seed',
    );
  const bytes = createHash('sha256').update(`tapnet-mac\0${seed}`).digest().subarray(0, 6);
  bytes[0] = (bytes[0]! & 0xfc) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
