import { UserNetwork as PackageUserNetwork, type UserNetworkOptions } from '@tapnet/user-network';
import { asFacadeOptionError, type OptionNames } from './option-errors.js';

/** UserNetwork's options have the same names through the facade as in @tapnet/user-network. */
const NAMES: OptionNames = {
  names: Object.fromEntries(
    [
      'socketFolder',
      'options',
      'restrict',
      'bridge',
      'metadataIp',
      'net',
      'hardening',
      'socketName',
      'searchPath',
    ].map((name) => [name, name]),
  ),
  fallback: 'options',
};

/** A user-mode (slirp) network: see @tapnet/user-network. */
export type UserNetwork = PackageUserNetwork;

/**
 * `UserNetwork.create` through the facade: a bad option is the facade's `InvalidOptionError`
 * (`instanceof TapnetError`), the package's error its `cause`; every other failure (no
 * bridge, an unsafe folder) is the package's own. `instanceof UserNetwork` still holds.
 */
export const UserNetwork: {
  create(socketFolder: string, options?: UserNetworkOptions): Promise<UserNetwork>;
  [Symbol.hasInstance](value: unknown): boolean;
} = Object.freeze({
  async create(socketFolder: string, options?: UserNetworkOptions): Promise<UserNetwork> {
    try {
      return await PackageUserNetwork.create(socketFolder, options);
    } catch (error) {
      throw asFacadeOptionError(error, NAMES);
    }
  },
  [Symbol.hasInstance](value: unknown): boolean {
    return value instanceof PackageUserNetwork;
  },
});
