import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { responseParts, Response as TapnetResponse } from './response.js';

// Parity of this package's Response with the global one: every member, every kind of body and
// init, compared against `new globalThis.Response(...)` made from the same arguments.
const GlobalResponse = globalThis.Response;
type AnyResponse = globalThis.Response;
type Make = (R: typeof GlobalResponse) => AnyResponse;

const encode = (text: string) => new TextEncoder().encode(text);

/** Each body kind, with how to make it fresh (a stream can be used once). */
const bodies: Record<string, () => unknown> = {
  'a string': () => 'héllo',
  'an empty string': () => '',
  'a string with a lone surrogate': () => 'a\ud800b',
  'a Uint8Array': () => encode('bytes'),
  'a Buffer view with an offset': () => Buffer.from('..slice..').subarray(2, 7),
  'a DataView': () => new DataView(encode('dataview').buffer, 1, 3),
  'an ArrayBuffer': () => encode('ab').buffer,
  null: () => null,
  undefined: () => undefined,
  'a ReadableStream': () =>
    new ReadableStream({
      start(c) {
        c.enqueue(encode('streamed'));
        c.close();
      },
    }),
  'an async iterable': () =>
    (async function* () {
      yield encode('iter');
    })(),
  'a Blob': () => new Blob(['blob'], { type: 'x/y' }),
  URLSearchParams: () => new URLSearchParams('a=1&b=2'),
  'a number (converted to text)': () => 42,
};

const makers: Record<string, Make> = {
  ...Object.fromEntries(
    Object.entries(bodies).map(([name, body]) => [
      name,
      (R: typeof GlobalResponse) => new R(body() as never),
    ]),
  ),
  'a record of headers and a status': (R) =>
    new R('x', { status: 201, statusText: 'Made', headers: { 'X-Tag': 'a', accept: '*/*' } }),
  'a Headers init with two cookies': (R) => {
    const h = new Headers({ 'x-b': '2' });
    h.append('set-cookie', 'a=1');
    h.append('set-cookie', 'b=2');
    return new R('x', { headers: h });
  },
  'header pairs in an array': (R) =>
    new R('x', {
      headers: [
        ['x-a', '1'],
        ['X-A', '2'],
      ],
    }),
  'two spellings of one name': (R) => new R('x', { headers: { 'x-a': '1', 'X-A': '2' } }),
  'a value with whitespace around it': (R) => new R('x', { headers: { 'x-a': ' 1 \t' } }),
  'its own content type': (R) => new R('x', { headers: { 'Content-Type': 'text/html' } }),
  'a numeric header value': (R) => new R('x', { headers: { 'x-n': 5 as unknown as string } }),
  'a status given as a string': (R) => new R('x', { status: '202' as unknown as number }),
  'a fractional status': (R) => new R('x', { status: 203.7 }),
  'a null status text': (R) => new R('x', { statusText: null as never }),
  'init null': (R) => new R('x', null as never),
  'status 204 without a body': (R) => new R(null, { status: 204 }),
  'status 404 with bytes': (R) => new R(encode('nope'), { status: 404, statusText: 'Gone' }),
  'an init that is a Response': (R) =>
    new R('x', new R(null, { status: 299, headers: { a: 'b' } })),
  'Response.json()': (R) => R.json({ a: [1, 'two'] }),
  'Response.json() with init': (R) =>
    R.json('s', { status: 400, headers: { 'content-type': 'application/problem+json' } }),
  'Response.error()': (R) => R.error(),
  'Response.redirect()': (R) => R.redirect('http://example.test/x', 307),
};

/** A value or the error it threw (or rejected with), comparable with toEqual. */
async function settle(fn: () => unknown): Promise<unknown> {
  try {
    return { value: await fn() };
  } catch (error) {
    return { error: (error as Error).constructor.name, message: (error as Error).message };
  }
}

const readStream = async (s: ReadableStream<Uint8Array> | null) =>
  s === null ? null : [...new Uint8Array(await new GlobalResponse(s).arrayBuffer())];

/** What each member shows, on a fresh response each (body readers consume it). */
const probes: Record<string, (r: AnyResponse) => unknown> = {
  status: (r) => r.status,
  statusText: (r) => r.statusText,
  ok: (r) => r.ok,
  type: (r) => r.type,
  url: (r) => r.url,
  redirected: (r) => r.redirected,
  bodyUsed: (r) => r.bodyUsed,
  headers: (r) => [r.headers instanceof Headers, [...r.headers], r.headers.getSetCookie()],
  body: (r) => readStream(r.body),
  'body, then bodyUsed': async (r) => [await readStream(r.body), r.bodyUsed],
  text: (r) => r.text(),
  'text twice': async (r) => [await r.text(), r.bodyUsed, await settle(() => r.text())],
  json: (r) => r.json(),
  arrayBuffer: async (r) => [...new Uint8Array(await r.arrayBuffer())],
  bytes: async (r) => [...(await r.bytes())],
  blob: async (r) => {
    const b = await r.blob();
    return [b.type, b.size, await b.text()];
  },
  formData: async (r) => [...(await r.formData())],
  clone: async (r) => {
    const c = r.clone();
    return [c instanceof GlobalResponse, c.status, [...c.headers], await c.text(), await r.text()];
  },
  'clone after text': async (r) => {
    await r.text();
    return settle(() => r.clone());
  },
  toStringTag: (r) => Object.prototype.toString.call(r),
  'instanceof Response': (r) => r instanceof GlobalResponse,
};

describe('Response: parity with the global Response', () => {
  for (const [made, make] of Object.entries(makers)) {
    describe(made, () => {
      for (const [member, probe] of Object.entries(probes)) {
        it(member, async () => {
          const ours = await settle(() => probe(make(TapnetResponse)));
          const theirs = await settle(() => probe(make(GlobalResponse)));
          expect(ours).toEqual(theirs);
        });
      }
    });
  }

  it('answers every member of Response.prototype itself (none reaches an undici brand check)', () => {
    const members = Reflect.ownKeys(GlobalResponse.prototype).filter(
      (k) => k !== 'constructor' && k !== Symbol.toStringTag,
    );
    const missing = members.filter((k) => !Object.hasOwn(TapnetResponse.prototype, k));
    expect(members.length).toBeGreaterThan(15);
    expect(missing).toEqual([]);
    expect(Object.getPrototypeOf(TapnetResponse.prototype)).toBe(GlobalResponse.prototype);
    for (const name of ['json', 'error', 'redirect'] as const)
      expect(Object.hasOwn(TapnetResponse, name)).toBe(true);
  });

  it('is inspected as a Response, with its status and headers', () => {
    const text = inspect(new TapnetResponse('x', { status: 201, headers: { a: 'b' } }));
    expect(text).toMatch(/^Response \{/);
    expect(text).toContain('status: 201');
    expect(text).toContain("a: 'b'");
  });
});

describe('Response: bad input throws what the global constructor throws, at construction', () => {
  const cases: Record<string, (R: typeof GlobalResponse) => unknown> = {
    'status 99': (R) => new R('x', { status: 99 }),
    'status 600': (R) => new R('x', { status: 600 }),
    'a null status': (R) => new R('x', { status: null as never }),
    'status 204 with a body': (R) => new R('x', { status: 204 }),
    'status 304 with bytes': (R) => new R(encode('x'), { status: 304 }),
    'a status text with a line break': (R) => new R('x', { statusText: 'a\nb' }),
    'a status text beyond latin1': (R) => new R('x', { statusText: 'é€' }),
    'a header name with a space': (R) => new R('x', { headers: { 'a b': '1' } }),
    'an empty header name': (R) => new R('x', { headers: { '': '1' } }),
    'a header value with NUL': (R) => new R('x', { headers: { a: 'x\0y' } }),
    'a header value with a line break inside': (R) => new R('x', { headers: { a: 'x\r\ny' } }),
    'a header value beyond latin1': (R) => new R('x', { headers: { a: 'price: 5€' } }),
    'a header value with an astral character': (R) => new R('x', { headers: { a: 'x\u{1f600}' } }),
    'Response.json() with a header value beyond latin1': (R) => R.json({}, { headers: { a: '€' } }),
    'an init that is a number': (R) => new R('x', 5 as unknown as ResponseInit),
    'headers that are a number': (R) => new R('x', { headers: 5 as never }),
    'a symbol body': (R) => new R(Symbol() as never),
    'Response.json(undefined)': (R) => R.json(undefined),
    'Response.json(a BigInt)': (R) => R.json(1n),
    'Response.json() with status 204': (R) => R.json({}, { status: 204 }),
    'Response.json() with a bad header': (R) => R.json({}, { headers: { 'a b': '1' } }),
  };
  for (const [name, make] of Object.entries(cases)) {
    it(name, async () => {
      const theirs = await settle(() => make(GlobalResponse));
      expect(theirs).toHaveProperty('error');
      expect(await settle(() => make(TapnetResponse))).toEqual(theirs);
    });
  }
});

describe('Response: what reaches the writer', () => {
  it('keeps a string, bytes or null body, the status and sorted fields, with no Headers made', () => {
    const parts = responseParts(
      new TapnetResponse('hi', { status: 201, headers: { 'X-B': '2', 'x-a': '1' } }),
    );
    expect(parts).toEqual({
      status: 201,
      body: 'hi',
      fields: ['content-type', 'text/plain;charset=UTF-8', 'x-a', '1', 'x-b', '2'],
      headers: undefined,
      real: undefined,
    });
  });

  it('recognises only its own instances, by a private brand', () => {
    const lookalike = Object.create(TapnetResponse.prototype) as object;
    expect(responseParts(lookalike)).toBeUndefined();
    expect(responseParts(new GlobalResponse('x'))).toBeUndefined();
  });

  it('copies a byte body: changing the caller’s buffer afterwards changes nothing', async () => {
    const bytes = encode('abc');
    const r = new TapnetResponse(bytes);
    bytes[0] = 0x7a;
    expect(responseParts(r)?.body).toEqual(encode('abc'));
    expect(await r.text()).toBe('abc');
  });

  it('copies a Headers init: changing it afterwards changes nothing', () => {
    const h = new Headers({ a: '1' });
    const r = new TapnetResponse('x', { headers: h });
    h.set('a', '2');
    expect(r.headers.get('a')).toBe('1');
  });

  it('hands out one Headers; changes to it are what the writer sends, even after body is read', () => {
    const r = new TapnetResponse('x', { headers: { a: '1' } });
    const headers = r.headers;
    headers.set('b', '2');
    expect(responseParts(r)?.headers).toBe(headers);
    void r.body; // now a global Response stands behind it
    headers.set('c', '3');
    const parts = responseParts(r);
    expect([parts?.real instanceof GlobalResponse, parts?.headers]).toEqual([true, headers]);
    expect(r.headers).toBe(headers);
    expect([...r.clone().headers].map(([k]) => k)).toEqual(['a', 'b', 'c', 'content-type']);
  });

  it('leaves a stream body to a global Response made at construction', () => {
    const parts = responseParts(new TapnetResponse(new ReadableStream()));
    expect(parts?.real).toBeInstanceOf(GlobalResponse);
  });

  it('a clone of an untouched one is one of its own, sharing nothing changeable', () => {
    const r = new TapnetResponse('x', { headers: { a: '1' } });
    const c = r.clone();
    c.headers.set('a', '2');
    expect([responseParts(c)?.body, r.headers.get('a')]).toEqual(['x', '1']);
  });
});
