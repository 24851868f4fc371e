import { readHostSnapshot } from '@tapnet/tap-pool';
import { UplinkNotFoundError } from './errors.js';

/**
 * Refuses an `uplink` that names no device of this network namespace (`devices`, as
 * `ip link` lists them): the firewall would compile rules for it that match nothing, and
 * guests would silently reach nothing. Pure.
 */
export function assertUplinkPresent(uplink: string, devices: readonly string[]): void {
  if (!devices.includes(uplink)) throw new UplinkNotFoundError(uplink);
}

/** Whether `name` is a network device of this namespace (as `ip link` lists them). */
export async function uplinkExists(name: string): Promise<boolean> {
  return (await readHostSnapshot()).devices.includes(name);
}
