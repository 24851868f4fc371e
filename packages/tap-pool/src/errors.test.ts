import { describeValue } from '@tapnet/internal';
import { describe, expect, it } from 'vitest';
import {
  AllNetworksInUseError,
  CommandError,
  DeviceExistsError,
  InvalidOptionError,
  PlanConflictError,
  StateError,
  SysctlError,
  TapPoolError,
} from './errors.js';

describe('errors', () => {
  it.each([
    [new InvalidOptionError('x'), 'InvalidOptionError', 'ERR_INVALID_OPTION'],
    [
      new PlanConflictError([{ network: 'a', with: 'b' }]),
      'PlanConflictError',
      'ERR_PLAN_CONFLICT',
    ],
    [new DeviceExistsError(['tn1']), 'DeviceExistsError', 'ERR_DEVICE_EXISTS'],
    [
      new CommandError('x', { argv: ['ip'], exitCode: 1, stderr: '' }),
      'CommandError',
      'ERR_COMMAND_FAILED',
    ],
    [new AllNetworksInUseError('x'), 'AllNetworksInUseError', 'ERR_ALL_NETWORKS_IN_USE'],
    [new StateError('x'), 'StateError', 'ERR_STATE'],
    [new SysctlError('x'), 'SysctlError', 'ERR_SYSCTL'],
  ])('%s has a stable name and code', (error, name, code) => {
    expect(error.name).toBe(name);
    expect(error.code).toBe(code);
    expect(error).toBeInstanceOf(TapPoolError);
    expect(error).toBeInstanceOf(Error);
  });

  it('keeps subclasses apart', () => {
    expect(new StateError('x')).not.toBeInstanceOf(InvalidOptionError);
    expect(new Error('x')).not.toBeInstanceOf(TapPoolError);
    expect({ code: 'ERR_STATE' }).not.toBeInstanceOf(StateError);
  });

  it('recognises errors from a second copy of the package through the Symbol.for brand', async () => {
    // What a duplicate install looks like: the errors module evaluated again, other class objects.
    const again = './errors.js?duplicate-install';
    const copy: typeof import('./errors.js') = await import(/* @vite-ignore */ again);
    expect(copy.StateError).not.toBe(StateError);
    const foreign = new copy.StateError('x');
    expect(foreign).toBeInstanceOf(TapPoolError);
    expect(foreign).toBeInstanceOf(StateError);
    expect(foreign).not.toBeInstanceOf(CommandError);
  });

  it('attaches the failing command as cause', () => {
    const error = new CommandError('Could not create the TAP devices', {
      argv: ['ip', '-batch', '-'],
      exitCode: 1,
      stderr: 'add tuntap: ioctl(TUNSETIFF): Device or resource busy\nCommand failed -:2\n',
      input: 'tuntap add dev tn0 mode tap\n',
    });
    expect(error.message).toBe(
      'Could not create the TAP devices: `ip -batch -` exited 1: add tuntap: ioctl(TUNSETIFF): Device or resource busy\nCommand failed -:2',
    );
    expect(error.cause).toEqual({
      argv: ['ip', '-batch', '-'],
      exitCode: 1,
      stderr: 'add tuntap: ioctl(TUNSETIFF): Device or resource busy\nCommand failed -:2\n',
      input: 'tuntap add dev tn0 mode tap\n',
    });
  });

  it('names the existing devices and lists conflicts', () => {
    expect(new DeviceExistsError(['tn1', 'tn2']).message).toBe(
      "Expected no device named like the pool's, got existing `tn1`, `tn2`; nothing was changed",
    );
    const many = Array.from({ length: 7 }, (_, i) => ({ network: `n${i}`, with: 'x' }));
    expect(new PlanConflictError(many).message).toMatch(/n4 conflicts with x; and 2 more$/);
  });

  it.each([
    [0, '`0` (number)'],
    ['0', '`"0"` (string)'],
    [null, '`null` (null)'],
    [undefined, '`undefined` (undefined)'],
    [[1], '`[1]` (array)'],
    [{ a: 1 }, '`{"a":1}` (object)'],
    [10n, '`10n` (bigint)'],
  ])('describes %s as %s', (value, text) => {
    expect(describeValue(value)).toBe(text);
  });
});
