import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserNetwork as PackageUserNetwork } from '@tapnet/user-network';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError, TapnetError } from './errors.js';
import { UserNetwork } from './user-network.js';

describe('UserNetwork.create through the facade', () => {
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'tapnet-facade-'));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it.each([
    ['a bad restrict', { restrict: 'yes' }, 'restrict'],
    ['an unknown option', { restricted: true }, 'options'],
    ['a bad bridge', { bridge: 'ncat' }, 'bridge'],
    ['bad hardening', { hardening: { maxBodyBytes: -1 } }, 'hardening.maxBodyBytes'],
    ['bad token options', { hardening: { tokens: 'yes' } }, 'hardening.tokens'],
  ])('%s → the facade’s InvalidOptionError naming `%s`', async (_what, options, option) => {
    const error = await UserNetwork.create(folder, options as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toBeInstanceOf(TapnetError);
    expect(error).toMatchObject({ code: 'ERR_INVALID_OPTION', option });
    expect((error as Error).cause).toMatchObject({ code: 'ERR_INVALID_OPTION' });
    expect((error as Error).cause).not.toBeInstanceOf(TapnetError);
  });

  it('refuses a bad socket folder the same way', async () => {
    const error = await UserNetwork.create('' as string).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ option: 'socketFolder' });
  });

  it('keeps instanceof working for the networks it makes', () => {
    expect({}).not.toBeInstanceOf(UserNetwork);
    expect(Object.create(PackageUserNetwork.prototype)).toBeInstanceOf(UserNetwork);
  });
});
