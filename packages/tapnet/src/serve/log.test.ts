import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { gidOf } from './listen.js';
import { formatEvent, Logger } from './log.js';

const at = '2026-01-01T00:00:00.000Z';

describe('formatEvent', () => {
  it('writes one JSON line', () => {
    expect(
      formatEvent({ event: 'release', at, network: 'tn0', reason: 'holder-exited' }, 'json'),
    ).toBe(`{"event":"release","at":"${at}","network":"tn0","reason":"holder-exited"}\n`);
  });

  it('writes text as `at event key=value`, quoting what could break the line', () => {
    expect(
      formatEvent(
        {
          event: 'metadata-request',
          at,
          network: 'tn0',
          url: '/a b\nforged=1',
          status: 200,
          n: null,
        },
        'text',
      ),
    ).toBe(`${at} metadata-request network=tn0 url="/a b\\nforged=1" status=200 n=null\n`);
    expect(formatEvent({ event: 'x', at, empty: '' }, 'text')).toBe(`${at} x empty=""\n`);
  });

  it('leaves metadata requests out when they are switched off', () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = new Logger('json', { requests: false, stream });
    logger.event({ event: 'metadata-request', at, url: '/' });
    logger.event({ event: 'acquire', at, network: 'tn0' });
    expect(lines.map((l) => JSON.parse(l).event)).toEqual(['acquire']);
  });
});

describe('gidOf', () => {
  const etc = 'root:x:0:\nkvm:x:993:alice\ntapnet:x:1001:bob,carol\n';
  it.each([
    ['tapnet', 1001],
    ['kvm', 993],
    ['0', 0],
    ['4242', 4242],
    ['nobody-here', undefined],
    ['', undefined],
  ])('%j → %s', (group, gid) => {
    expect(gidOf(group, etc)).toBe(gid);
  });
});
