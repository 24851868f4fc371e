import { describe, expect, it } from 'vitest';
import {
  ConntrackError,
  InvalidOptionError,
  MetadataHandlerError,
  PoolDisposedError,
  ReleasedError,
  TapnetError,
  UplinkNotFoundError,
} from './errors.js';

describe('the facade’s errors', () => {
  it('have a name, a stable code and the facade’s base class', () => {
    const error = new InvalidOptionError('upstreamDns[0]', 'Expected …', { cause: 'x' });
    expect(error).toBeInstanceOf(TapnetError);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      name: 'InvalidOptionError',
      code: 'ERR_INVALID_OPTION',
      option: 'upstreamDns[0]',
      cause: 'x',
    });
    expect(new UplinkNotFoundError('eth9')).toMatchObject({
      name: 'UplinkNotFoundError',
      code: 'ERR_UPLINK_NOT_FOUND',
      uplink: 'eth9',
    });
    const failure = new MetadataHandlerError('tn3', new Error('boom'));
    expect(failure).toMatchObject({ code: 'ERR_METADATA_HANDLER', network: 'tn3' });
    expect(failure.message).toBe('The metadata handler of network tn3 failed: boom');
    expect(new PoolDisposedError()).not.toBeInstanceOf(ReleasedError);
  });

  it('bound the tool output a ConntrackError quotes, and keep all of it on the error', () => {
    const stderr = `${'x'.repeat(2000)}\nlast line`;
    const error = new ConntrackError(['/usr/sbin/conntrack', '-D', '-s', '10.0.0.0'], 1, stderr);
    expect(error).toMatchObject({
      name: 'ConntrackError',
      code: 'ERR_CONNTRACK',
      exitCode: 1,
      stderr,
    });
    expect(error.message.startsWith('`conntrack -D -s 10.0.0.0` failed (exit 1): xxx')).toBe(true);
    expect(error.message.length).toBeLessThan(600);
    expect(error.message).toContain('more line');
  });

  it('are recognised across duplicate installs', async () => {
    // What a duplicate install looks like: the errors module evaluated again, other class objects.
    const again = './errors.js?duplicate-install';
    const copy: typeof import('./errors.js') = await import(/* @vite-ignore */ again);
    expect(copy.InvalidOptionError).not.toBe(InvalidOptionError);
    const foreign = new copy.InvalidOptionError('size', 'Expected …');
    expect(foreign).toBeInstanceOf(TapnetError);
    expect(foreign).toBeInstanceOf(InvalidOptionError);
    expect(foreign).not.toBeInstanceOf(ReleasedError);
    expect(new InvalidOptionError('size', '…')).toBeInstanceOf(copy.TapnetError);
    // Errors of other families are not the facade's.
    expect(Object.assign(new Error('x'), { code: 'ERR_INVALID_OPTION' })).not.toBeInstanceOf(
      TapnetError,
    );
  });
});
