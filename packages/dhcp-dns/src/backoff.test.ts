import { describe, expect, it } from 'vitest';
import { restartDecision } from './backoff.js';

const o = { maxQuickFailures: 5, initialDelayMs: 200, maxDelayMs: 1000 };

describe('restartDecision', () => {
  it.each([
    // quick failures before, lasted → decision
    [0, false, { giveUp: false, quickFailures: 1, attempt: 1, delayMs: 200 }],
    [1, false, { giveUp: false, quickFailures: 2, attempt: 2, delayMs: 400 }],
    [2, false, { giveUp: false, quickFailures: 3, attempt: 3, delayMs: 800 }],
    [3, false, { giveUp: false, quickFailures: 4, attempt: 4, delayMs: 1000 }],
    [4, false, { giveUp: true, quickFailures: 5 }],
    [9, false, { giveUp: true, quickFailures: 10 }],
    [0, true, { giveUp: false, quickFailures: 0, attempt: 1, delayMs: 200 }],
    [4, true, { giveUp: false, quickFailures: 0, attempt: 1, delayMs: 200 }],
  ] as const)('after %i quick failures, a run that lasted: %s → %o', (before, lasted, expected) => {
    expect(restartDecision(before, lasted, o)).toEqual(expected);
  });

  it('gives up at once when one quick failure is the limit', () => {
    expect(restartDecision(0, false, { ...o, maxQuickFailures: 1 })).toEqual({
      giveUp: true,
      quickFailures: 1,
    });
  });
});
