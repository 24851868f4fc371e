import { InvalidOptionError as TapPoolOptionError } from '@tapnet/tap-pool';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, TapnetError } from './errors.js';
import {
  asFacadeOptionError,
  facadePathOf,
  type OptionNames,
  optionPathOf,
} from './option-errors.js';

const names: OptionNames = {
  names: { upstream: 'upstreamDns', restart: 'dnsmasqRestart', size: 'size' },
  fallback: 'options',
};

describe('option paths', () => {
  it.each([
    [{ field: 'upstream[2]', message: 'x' }, 'upstream[2]'],
    [{ option: 'hardening.tokens', message: 'x' }, 'hardening.tokens'],
    [
      new Error('Expected `restart.maxDelayMs` to be an integer, got `-1` (number)'),
      'restart.maxDelayMs',
    ],
    [new Error('Expected `prefix` to be short enough for device `tn4095`'), 'prefix'],
    [new Error('no path here'), undefined],
    ['not an error', undefined],
  ])('the path of %j is %s', (error, path) => {
    expect(optionPathOf(error)).toBe(path);
  });

  it.each([
    ['upstream[0]', 'upstreamDns[0]'],
    ['restart.maxDelayMs', 'dnsmasqRestart.maxDelayMs'],
    ['size', 'size'],
    ['upstreamServers', 'options'],
    ['constructor', 'options'],
    [undefined, 'options'],
  ])('%s is the facade’s %s', (path, facade) => {
    expect(facadePathOf(path, names)).toBe(facade);
  });
});

describe('asFacadeOptionError', () => {
  it('wraps a package’s option error, naming the facade’s path in .option and the message', () => {
    const original = new TapPoolOptionError(
      'Expected `upstream[1]` to be an IPv4 address, got `x`',
    );
    const error = asFacadeOptionError(original, names);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toBeInstanceOf(TapnetError);
    expect(error).toMatchObject({
      code: 'ERR_INVALID_OPTION',
      option: 'upstreamDns[1]',
      message: 'Expected `upstreamDns[1]` to be an IPv4 address, got `x`',
      cause: original,
    });
  });

  it('names the fallback when the package’s error names no path', () => {
    const original = Object.assign(new Error('bad'), { code: 'ERR_INVALID_CONFIG' });
    expect(asFacadeOptionError(original, names)).toMatchObject({
      option: 'options',
      message: 'bad (option `options`)',
    });
  });

  it('leaves errors that are not about an option as they are', () => {
    const conflict = Object.assign(new Error('route 10.0.0.0/8 dev eth0'), {
      code: 'ERR_PLAN_CONFLICT',
    });
    expect(asFacadeOptionError(conflict, names)).toBe(conflict);
    const own = new InvalidOptionError('size', 'Expected `size` …');
    expect(asFacadeOptionError(own, names)).toBe(own);
    expect(asFacadeOptionError('text', names)).toBe('text');
  });
});
