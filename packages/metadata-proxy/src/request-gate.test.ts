import { describe, expect, it } from 'vitest';
import { normalizeHardening } from './options.js';
import { type RequestFacts, requestRefusal } from './request-gate.js';

const defaults = normalizeHardening({});
const withHeader = normalizeHardening({ requiredHeader: { name: 'metadata-flavor', value: 'x' } });

function facts(over: Partial<RequestFacts> = {}): RequestFacts {
  return {
    url: '/latest/meta-data',
    headers: { host: '169.254.169.254' },
    rawHeaderLength: 2,
    withBody: false,
    ...over,
  };
}

describe('requestRefusal: the ordered request checks', () => {
  const cases: [string, RequestFacts, number | undefined, boolean | undefined][] = [
    ['a plain GET passes', facts(), undefined, undefined],
    ['X-Forwarded-For → 403', facts({ headers: { 'x-forwarded-for': '1.2.3.4' } }), 403, false],
    ['Via with a body → 403, closing', facts({ headers: { via: 'p' }, withBody: true }), 403, true],
    ['absolute-form target → 400, closing', facts({ url: 'http://x/' }), 400, true],
    ['asterisk-form target → 400', facts({ url: '*' }), 400, true],
    [
      'too many headers → 431',
      facts({ rawHeaderLength: defaults.maxHeadersCount * 2 + 2 }),
      431,
      true,
    ],
    ['a dot segment → 400', facts({ url: '/a/../b' }), 400, false],
    [
      'a declared body over the limit → 413, closing',
      facts({ headers: { 'content-length': String(defaults.maxBodyBytes + 1) }, withBody: true }),
      413,
      true,
    ],
  ];
  it.each(cases)('%s', (_name, request, status, close) => {
    const refusal = requestRefusal(request, defaults, () => 0);
    expect([refusal?.status, refusal?.close]).toEqual([status, close]);
  });

  it('answers 429 with Retry-After in whole seconds when the rate budget is spent', () => {
    expect(requestRefusal(facts(), defaults, () => 1_200)).toEqual({
      status: 429,
      message: 'Too Many Requests',
      close: false,
      headers: { 'retry-after': '2' },
    });
  });

  it('spends no rate budget on a request refused earlier', () => {
    let asked = 0;
    requestRefusal(facts({ url: '/a/../b' }), defaults, () => {
      asked++;
      return 0;
    });
    expect(asked).toBe(0);
  });

  it('checks the required header after the rate', () => {
    const refusal = requestRefusal(facts(), withHeader, () => 0);
    expect([refusal?.status, refusal?.message]).toEqual([
      403,
      'Forbidden: missing metadata-flavor header',
    ]);
  });

  it('passes a request with the required header', () => {
    const request = facts({ headers: { 'metadata-flavor': 'x' } });
    expect(requestRefusal(request, withHeader, () => 0)).toBeUndefined();
  });
});
