import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../errors.js';
import { formatError, Output, table } from './output.js';
import { UsageError } from './parse.js';

function capture() {
  const out = new PassThrough();
  const err = new PassThrough();
  const read = (s: PassThrough) => () => (s.read() as Buffer | null)?.toString() ?? '';
  return { out, err, stdout: read(out), stderr: read(err) };
}

describe('Output', () => {
  it('writes one JSON object per line in JSON mode, and no progress', () => {
    const c = capture();
    const output = new Output(true, c.out, c.err);
    output.emit({ event: 'lease', ip: '10.0.0.2', nested: { a: [1, 2] } }, () => 'human');
    output.emit({ event: 'disposed' }, () => 'human');
    output.log('creating pool…');
    expect(c.stdout()).toBe(
      '{"event":"lease","ip":"10.0.0.2","nested":{"a":[1,2]}}\n{"event":"disposed"}\n',
    );
    expect(c.stderr()).toBe('');
  });

  it('writes text, and progress to stderr, in human mode', () => {
    const c = capture();
    const output = new Output(false, c.out, c.err);
    output.emit({ event: 'lease' }, () => 'lease tn0');
    output.log('creating pool…');
    expect(c.stdout()).toBe('lease tn0\n');
    expect(c.stderr()).toBe('creating pool…\n');
  });
});

describe('formatError', () => {
  it('gives JSON with code, message and option', () => {
    const error = new InvalidOptionError('size', 'Expected `size` to be …');
    expect(JSON.parse(formatError(error, true))).toEqual({
      error: { code: 'ERR_INVALID_OPTION', message: 'Expected `size` to be …', option: 'size' },
    });
  });

  it('gives a usage error its usage line, without the code, for people', () => {
    expect(formatError(new UsageError('Unknown command `x`'), false)).toBe(
      'tapnet: Unknown command `x`\nUsage: tapnet <command> [options] (tapnet --help)\n',
    );
  });

  it('formats a thrown non-error', () => {
    expect(formatError('boom', false)).toBe('tapnet: boom\n');
  });
});

describe('table', () => {
  it('pads columns and trims line ends', () => {
    expect(
      table([
        ['a', 'bb'],
        ['ccc', ''],
      ]),
    ).toBe('a    bb\nccc');
  });
});
