import { describe, expect, it } from 'vitest';
import { planFix } from './doctor.js';

describe('planFix', () => {
  it.each([
    [
      {
        code: 'ERR_INVALID_OPTION',
        message: 'Expected `size` to be an integer from 1 to 4096, got `5000`',
      },
      'change --size to what the message expects',
    ],
    [
      { code: 'ERR_INVALID_OPTION', message: 'Expected `prefixLength` to be …' },
      'change --prefix-length to what the message expects',
    ],
    [
      { code: 'ERR_INVALID_OPTION', message: 'something else' },
      'change the option to what the message expects',
    ],
    [
      { code: 'ERR_PLAN_CONFLICT', message: 'route 10.231.0.0/24 exists' },
      'choose another --subnet or --prefix, or `tapnet cleanup` leftovers',
    ],
  ])('%j → %s', (error, fix) => {
    expect(planFix(error)).toBe(fix);
  });
});
