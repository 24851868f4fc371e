import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from './errors.js';
import { fetchHandler, nodeHandler, parseForwardTarget, resolveHandler } from './handler.js';

describe('resolveHandler', () => {
  it('takes a plain function as fetch-style and a marked one as node-style', () => {
    expect(resolveHandler(() => new Response('x')).kind).toBe('fetch');
    // Even a function declaring (req, res): the rule is explicit marking, not arity.
    expect(resolveHandler((_req: unknown, _res: unknown) => undefined).kind).toBe('fetch');
    expect(resolveHandler(nodeHandler((_req, res) => res.end())).kind).toBe('node');
    expect(resolveHandler(fetchHandler(() => new Response('x'))).kind).toBe('fetch');
    expect(resolveHandler({ fetch: () => new Response('x') }).kind).toBe('fetch');
    expect(resolveHandler({ forward: 'http://127.0.0.1:8080' }).kind).toBe('forward');
  });

  it.each([[null], [42], [{}], [{ fetch: 1 }]])('refuses %j', (value) => {
    expect(() => resolveHandler(value)).toThrow(InvalidOptionError);
  });
});

describe('parseForwardTarget', () => {
  it.each([
    [
      { forward: 'http://127.0.0.1:8080/base/' },
      {
        origin: 'http://127.0.0.1:8080',
        socketPath: undefined,
        basePath: '/base',
        timeoutMs: 5000,
        maxResponseBytes: 1048576,
      },
    ],
    [
      { forward: 'http://[::1]:81', timeoutMs: 10, maxResponseBytes: 0 },
      {
        origin: 'http://[::1]:81',
        socketPath: undefined,
        basePath: '',
        timeoutMs: 10,
        maxResponseBytes: 0,
      },
    ],
    [
      { forward: 'unix:/run/meta data.sock' },
      {
        origin: 'http://localhost',
        socketPath: '/run/meta data.sock',
        basePath: '',
        timeoutMs: 5000,
        maxResponseBytes: 1048576,
      },
    ],
    [
      { forward: 'unix:/run/m.sock:/v1/' },
      {
        origin: 'http://localhost',
        socketPath: '/run/m.sock',
        basePath: '/v1',
        timeoutMs: 5000,
        maxResponseBytes: 1048576,
      },
    ],
  ])('%j', (input, expected) => {
    expect(parseForwardTarget(input)).toEqual(expected);
  });

  it.each([
    [{ forward: 'https://example.com' }],
    [{ forward: 'unix:relative.sock' }],
    [{ forward: 'http://u:p@127.0.0.1/' }],
    [{ forward: 'http://127.0.0.1/?q=1' }],
    [{ forward: 'http://127.0.0.1/', timeoutMs: 0 }],
    [{ forward: 'http://127.0.0.1/', extra: 1 }],
  ])('refuses %j', (input) => {
    expect(() => parseForwardTarget(input as never)).toThrow(InvalidOptionError);
  });
});
