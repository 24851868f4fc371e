// The facade's side of per-VM traffic limits: a released network's reset, and status fields.
import {
  type NormalizedTrafficLimits,
  type Shaper,
  sameLimits,
  type TrafficCounters,
} from '@tapnet/tap-pool';

/** A network's limits and counters, as `status()` shows them. */
export interface NetworkTraffic {
  /** Rates in bits per second, bursts in bytes; a missing key is unlimited. */
  limits: NormalizedTrafficLimits;
  /** tc/nft counters of the directions it has limits on (bytes, packets, drops). */
  traffic?: TrafficCounters;
}

/** Limits and counters of every network (one or two processes; none when nothing is limited). */
export async function trafficStatus(shaper: Shaper): Promise<{
  defaults: NormalizedTrafficLimits;
  of(device: string): NetworkTraffic;
}> {
  const counters = await shaper.counters();
  return {
    defaults: { ...shaper.defaults },
    of: (device) => {
      const traffic = counters.get(device);
      return { limits: shaper.limits(device), ...(traffic && { traffic }) };
    },
  };
}

/**
 * Puts a released network back to the pool's default limits, then calls `free` (which hands it
 * on). Nothing to put back (or the pool closing): `free` at once, undefined returned. If the
 * reset fails the network is not freed (no next VM gets another's limits); `onError` hears it.
 */
export function resetThenFree(
  shaper: Shaper,
  device: string,
  hooks: { free: () => void; onError: (error: Error) => void; closing?: () => boolean },
): Promise<void> | undefined {
  if (hooks.closing?.() || sameLimits(shaper.limits(device), shaper.defaults)) {
    hooks.free();
    return undefined;
  }
  return shaper
    .set(device, shaper.defaults)
    .then(hooks.free, (error: unknown) =>
      hooks.onError(
        new Error(
          `Could not put ${device} back to the pool's default limits; it stays out of use until the pool is disposed`,
          { cause: error },
        ),
      ),
    );
}
