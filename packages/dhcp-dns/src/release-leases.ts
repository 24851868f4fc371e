// Handing dnsmasq the DHCPRELEASEs of a network's leases, in batches, until its lease file shows
// them gone (or it evidently does not take them).
import { randomInt } from 'node:crypto';
import { type LeaseEntry, releaseMessage } from './forget.js';
import type { NormalizedNetwork } from './options.js';

/** DHCPRELEASEs sent before checking that dnsmasq took them (its socket buffer holds ~100). */
const RELEASE_BATCH = 32;
/** How long a batch may take to show in the lease file before the fallback is used. */
const RELEASE_WAIT_MS = 1000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Sends each of `entries` its DHCPRELEASE from the network's gateway, a batch at a time, and
 * waits (up to RELEASE_WAIT_MS a batch) until `left()` no longer lists them. Stops early when
 * not one of a batch was taken: releases do not reach dnsmasq here.
 */
export async function sendReleases(
  send: (gateway: string, messages: readonly Buffer[]) => Promise<void>,
  network: NormalizedNetwork,
  entries: readonly LeaseEntry[],
  left: () => Promise<readonly LeaseEntry[]>,
): Promise<void> {
  for (let i = 0; i < entries.length; i += RELEASE_BATCH) {
    const batch = entries.slice(i, i + RELEASE_BATCH);
    await send(
      network.gateway,
      batch.map((entry) => releaseMessage(entry, network, randomInt(2 ** 32))),
    ).catch(() => {}); // judged by the lease file below
    const ips = new Set(batch.map((e) => e.ip));
    const deadline = Date.now() + RELEASE_WAIT_MS;
    let pending = batch.length;
    for (;;) {
      pending = (await left()).filter((e) => ips.has(e.ip)).length;
      if (pending === 0 || Date.now() >= deadline) break;
      await sleep(10);
    }
    if (pending === batch.length) break;
  }
}
