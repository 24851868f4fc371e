import { describe, expect, it } from 'vitest';
import { createFetchRequest, type FetchRequestParts } from './fetch-request.js';

function lazy(parts: Partial<FetchRequestParts> = {}): Request {
  return createFetchRequest({
    method: 'GET',
    rawUrl: 'http://169.254.169.254/latest/meta-data?x=1',
    rawHeaders: ['Host', '169.254.169.254', 'Accept', 'text/plain', 'X-Real-IP', '10.0.0.9'],
    body: undefined,
    signal: new AbortController().signal,
    ...parts,
  });
}

describe('the lazy Request a fetch handler gets', () => {
  it('is a Request to user code', () => {
    const request = lazy();
    expect(request instanceof Request).toBe(true);
    expect(Object.prototype.toString.call(request)).toBe('[object Request]');
  });

  it('answers method and url as a real Request would', () => {
    const request = lazy({ method: 'PUT', rawUrl: 'http://h/a?q="x"' });
    const real = new Request('http://h/a?q="x"', { method: 'PUT' });
    expect([request.method, request.url]).toEqual([real.method, real.url]);
  });

  it('has the headers without identity headers', () => {
    const headers = lazy().headers;
    expect(headers instanceof Headers).toBe(true);
    expect([...headers]).toEqual([
      ['accept', 'text/plain'],
      ['host', '169.254.169.254'],
    ]);
  });

  it('returns the same Headers object on every read', () => {
    const request = lazy();
    expect(request.headers).toBe(request.headers);
  });

  it('carries the signal it was given', () => {
    const controller = new AbortController();
    const request = lazy({ signal: controller.signal });
    controller.abort();
    expect(request.signal.aborted).toBe(true);
  });

  it('reads a JSON body', async () => {
    const request = lazy({ method: 'POST', body: Buffer.from('{"a":[1,2]}') });
    expect(await request.json()).toEqual({ a: [1, 2] });
  });

  it('reads the body once: a second read rejects and bodyUsed is true', async () => {
    const request = lazy({ method: 'POST', body: Buffer.from('once') });
    expect(request.bodyUsed).toBe(false);
    expect(await request.text()).toBe('once');
    expect(request.bodyUsed).toBe(true);
    await expect(request.arrayBuffer()).rejects.toThrow(TypeError);
  });

  it('reads the body as bytes and as an ArrayBuffer of its own', async () => {
    const request = lazy({ method: 'POST', body: Buffer.from([1, 2, 3]) });
    const buffer = await request.arrayBuffer();
    expect([buffer.byteLength, [...new Uint8Array(buffer)]]).toEqual([3, [1, 2, 3]]);
  });

  it('reads a missing body as empty, any number of times, as a real Request does', async () => {
    const request = lazy();
    expect([await request.text(), await request.text(), request.body]).toEqual(['', '', null]);
  });

  it('gives its body as a stream on demand', async () => {
    const request = lazy({ method: 'POST', body: Buffer.from('streamed') });
    expect(await new Response(request.body).text()).toBe('streamed');
  });

  it('clones into a real Request that fetch() and new Request() accept', async () => {
    const request = lazy({ method: 'POST', body: Buffer.from('copy') });
    const copy = new Request(request.clone());
    expect([copy.method, copy.url, copy.headers.get('accept'), await copy.text()]).toEqual([
      'POST',
      'http://169.254.169.254/latest/meta-data?x=1',
      'text/plain',
      'copy',
    ]);
  });

  it('answers the other Request attributes from a real one', () => {
    const request = lazy();
    expect([request.cache, request.redirect, request.mode]).toEqual(['default', 'follow', 'cors']);
  });
});
