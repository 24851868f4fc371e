import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.js';
import {
  isNetworkName,
  parseAcquire,
  parseHandlerUpdate,
  parseJson,
  parseRenew,
} from './request.js';

const none = { handlerRoot: undefined };
const rooted = { handlerRoot: '/srv/meta' };

function refusal(f: () => unknown): {
  status: number;
  code: string;
  option?: string;
  message: string;
} {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    const e = error as ApiError;
    return {
      status: e.status,
      code: e.code,
      message: e.message,
      ...(e.option !== undefined && { option: e.option }),
    };
  }
  throw new Error('expected a refusal');
}

describe('parseAcquire', () => {
  it('passes limits through for the pool to validate, and refuses limits that are not an object', () => {
    expect(parseAcquire({ limits: { egress: '10mbit' } }, none).limits).toEqual({
      egress: '10mbit',
    });
    expect(() => parseAcquire({ limits: '10mbit' }, none)).toThrow(
      expect.objectContaining({ status: 400, option: 'limits' }),
    );
  });

  it('fills the defaults', () => {
    expect(parseAcquire({}, none)).toEqual({
      handler: undefined,
      wait: 0,
      holder: {},
      netdevId: 'net0',
      model: 'virtio-net-pci',
    });
  });

  it.each([
    [
      { handler: 'http://10.0.0.1:8080/meta' },
      { kind: 'forward', url: 'http://10.0.0.1:8080/meta' },
      none,
    ],
    [{ handler: { '*': { '/a': 'b' } } }, { kind: 'table', table: { '*': { '/a': 'b' } } }, none],
    [{ handler: null }, null, none],
    [
      { handler: '/srv/meta/folder' },
      { kind: 'path', source: '/srv/meta/folder', path: '/srv/meta/folder' },
      rooted,
    ],
    [
      { handler: 'unix:/srv/meta/s.sock' },
      { kind: 'path', source: 'unix:/srv/meta/s.sock', path: '/srv/meta/s.sock' },
      rooted,
    ],
  ])('takes the handler %j', (body, handler, ctx) => {
    expect(parseAcquire(body, ctx).handler).toEqual(handler);
  });

  it('takes a holder, a wait and a NIC', () => {
    expect(
      parseAcquire(
        { holder: { pid: 42, ttl: 30 }, wait: 1.5, netdevId: 'n1', model: 'e1000' },
        none,
      ),
    ).toEqual({
      handler: undefined,
      wait: 1.5,
      holder: { pid: 42, ttl: 30 },
      netdevId: 'n1',
      model: 'e1000',
    });
  });

  it.each([
    ['an array', [], 'ERR_BAD_BODY', undefined],
    ['a string', 'x', 'ERR_BAD_BODY', undefined],
    ['null', null, 'ERR_BAD_BODY', undefined],
    ['an unknown field', { handlr: 'http://x' }, 'ERR_UNKNOWN_FIELD', 'handlr'],
    [
      '__proto__ as a field',
      JSON.parse('{"__proto__": {"wait": 1}}'),
      'ERR_UNKNOWN_FIELD',
      '__proto__',
    ],
    ['a negative wait', { wait: -1 }, 'ERR_INVALID_OPTION', 'wait'],
    ['a wait over 600 s', { wait: 601 }, 'ERR_INVALID_OPTION', 'wait'],
    ['a wait as a string', { wait: '5' }, 'ERR_INVALID_OPTION', 'wait'],
    ['a wait of NaN', { wait: Number.NaN }, 'ERR_INVALID_OPTION', 'wait'],
    ['a holder pid of 0', { holder: { pid: 0 } }, 'ERR_INVALID_OPTION', 'holder.pid'],
    ['a fractional pid', { holder: { pid: 1.5 } }, 'ERR_INVALID_OPTION', 'holder.pid'],
    ['a ttl of 0', { holder: { ttl: 0 } }, 'ERR_INVALID_OPTION', 'holder.ttl'],
    ['an unknown holder field', { holder: { uid: 0 } }, 'ERR_UNKNOWN_FIELD', 'uid'],
    ['a holder that is a number', { holder: 5 }, 'ERR_BAD_BODY', undefined],
    ['a netdev id with a comma', { netdevId: 'n,script=/x' }, 'ERR_INVALID_OPTION', 'netdevId'],
    ['an unknown model', { model: 'rtl8139' }, 'ERR_INVALID_OPTION', 'model'],
    ['a relative path handler', { handler: 'meta/' }, 'ERR_INVALID_OPTION', 'handler'],
    ['a path handler without --handler-root', { handler: '/etc' }, 'ERR_PATH_REFUSED', 'handler'],
    [
      'a unix handler without --handler-root',
      { handler: 'unix:/var/run/docker.sock' },
      'ERR_PATH_REFUSED',
      'handler',
    ],
    ['a handler number', { handler: 5 }, 'ERR_INVALID_OPTION', 'handler'],
    [
      'a table entry that is not an object',
      { handler: { '*': 'x' } },
      'ERR_INVALID_OPTION',
      'handler',
    ],
    [
      'a table path without a slash',
      { handler: { '*': { a: 'b' } } },
      'ERR_INVALID_OPTION',
      'handler',
    ],
    ['a malformed URL', { handler: 'http://[x' }, 'ERR_INVALID_OPTION', 'handler'],
  ])('refuses %s with 400', (_what, body, code, option) => {
    const r = refusal(() => parseAcquire(body, none));
    expect(r.status).toBe(400);
    expect(r.code).toBe(code);
    expect(r.option).toBe(option);
    expect(r.message).toMatch(/^Expected /);
  });

  it.each([
    ['/srv/metadata'],
    ['/srv/meta/../other'],
    ['unix:/srv/meta/../../var/run/docker.sock'],
    ['/etc/shadow'],
  ])('refuses %s outside --handler-root', (handler) => {
    expect(refusal(() => parseAcquire({ handler }, rooted)).code).toBe('ERR_PATH_REFUSED');
  });
});

describe('the other bodies', () => {
  it('parses JSON, refusing what is not', () => {
    expect(parseJson('')).toEqual({});
    expect(parseJson('{"a":1}')).toEqual({ a: 1 });
    expect(refusal(() => parseJson('{bad')).code).toBe('ERR_BAD_JSON');
  });

  it('handler updates need `handler`', () => {
    expect(parseHandlerUpdate({ handler: null }, none)).toBeNull();
    expect(parseHandlerUpdate({ handler: 'https://a.example/' }, none)).toEqual({
      kind: 'forward',
      url: 'https://a.example/',
    });
    expect(refusal(() => parseHandlerUpdate({}, none)).option).toBe('handler');
    expect(refusal(() => parseHandlerUpdate({ handler: null, x: 1 }, none)).code).toBe(
      'ERR_UNKNOWN_FIELD',
    );
  });

  it('renewals take an optional ttl', () => {
    expect(parseRenew({})).toEqual({});
    expect(parseRenew({ ttl: 60 })).toEqual({ ttl: 60 });
    expect(refusal(() => parseRenew({ ttl: 86_401 })).option).toBe('ttl');
  });

  it.each([
    ['tn0', true],
    ['tn4095', true],
    ['', false],
    ['TN0', false],
    ['../x', false],
    ['a'.repeat(16), false],
  ])('network name %j: %s', (name, ok) => {
    expect(isNetworkName(name)).toBe(ok);
  });
});
