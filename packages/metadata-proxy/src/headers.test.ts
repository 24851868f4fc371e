import { describe, expect, it } from 'vitest';
import {
  downstreamResponseHeaders,
  fetchRequestHeaders,
  upstreamRequestHeaders,
} from './headers.js';

describe('upstreamRequestHeaders', () => {
  it('strips hop-by-hop, Connection-named and identity headers and adds the network', () => {
    const raw = [
      'Host', '169.254.169.254',
      'Connection', 'keep-alive, X-Secret-Hop',
      'X-Secret-Hop', '1',
      'Keep-Alive', 'timeout=5',
      'Transfer-Encoding', 'chunked',
      'Upgrade', 'websocket',
      'Proxy-Authorization', 'Basic eA==',
      'X-Forwarded-For', '1.2.3.4',
      'X-Forwarded-Host', 'evil',
      'Forwarded', 'for=1.2.3.4',
      'Via', '1.1 evil',
      'X-Real-IP', '1.2.3.4',
      'X-Tapnet-Network', 'someone-else',
      'Content-Length', '3',
      'Accept', 'text/plain',
      'X-Multi', 'a',
      'x-multi', 'b',
    ]; // biome-ignore format: pairs
    expect(upstreamRequestHeaders(raw, { network: 'vm1', remoteAddress: '10.0.0.2' })).toEqual([
      'accept', 'text/plain',
      'x-multi', 'a',
      'x-multi', 'b',
      'x-tapnet-network', 'vm1',
      'x-tapnet-remote-address', '10.0.0.2',
    ]); // biome-ignore format: pairs
  });

  it('drops what any Connection value names, in any case, and keeps the rest', () => {
    const context = { network: 'n', remoteAddress: '10.0.0.2' };
    const raw = (connection: string) => [
      'Connection', connection,
      'X-A', '1',
      'Close', '2',
      'Keep-Alive', 'timeout=5',
      'Accept', '*/*',
    ]; // biome-ignore format: pairs
    const names = (connection: string) =>
      upstreamRequestHeaders(raw(connection), context).filter((_, i) => i % 2 === 0);
    const added = ['x-tapnet-network', 'x-tapnet-remote-address'];
    expect(names('keep-alive')).toEqual(['x-a', 'close', 'accept', ...added]);
    expect(names('Keep-Alive')).toEqual(['x-a', 'close', 'accept', ...added]);
    expect(names('close')).toEqual(['x-a', 'accept', ...added]);
    expect(names('Close, X-A')).toEqual(['accept', ...added]);
  });
});

describe('downstreamResponseHeaders', () => {
  it('strips hop-by-hop headers and the length', () => {
    expect(
      downstreamResponseHeaders({
        'content-type': 'application/json',
        connection: 'close, x-drop',
        'x-drop': '1',
        'keep-alive': 'timeout=4',
        'transfer-encoding': 'chunked',
        'content-length': '10',
        'set-cookie': ['a=1', 'b=2'],
        'x-absent': undefined,
      }),
    ).toEqual({ 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] });
  });
});

describe('fetchRequestHeaders', () => {
  it('keeps end-to-end headers in order', () => {
    expect(
      fetchRequestHeaders([
        'Host',
        'x',
        'Connection',
        'close',
        'Accept',
        '*/*',
        'Content-Length',
        '0',
      ]),
    ).toEqual([
      ['host', 'x'],
      ['accept', '*/*'],
    ]);
  });
});
