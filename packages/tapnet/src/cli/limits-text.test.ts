import { normalizeTrafficLimits } from '@tapnet/tap-pool';
import { describe, expect, it } from 'vitest';
import { limitsText } from './limits-text.js';

describe('limitsText', () => {
  it('names each limit, or none', () => {
    expect(limitsText({})).toBe('none');
    expect(
      limitsText(
        normalizeTrafficLimits({ egress: '20mbit', ingress: '12.5MB/s', packetsPerSecond: 1000 }),
      ),
    ).toBe('egress 20mbit, ingress 100mbit, 1000 pkt/s');
  });
});
