import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Parts } from './create.js';

/**
 * Removes a started pool's parts in `dispose()`'s order, running every step even when an earlier
 * one fails, except the firewall's removal: it stays while a TAP could not be removed (that TAP
 * stays isolated; `tapnet cleanup` finishes). Gives the prefix up only when nothing failed.
 * Resolves with the failures, in the order the steps run.
 */
export async function removeParts(parts: Parts): Promise<unknown[]> {
  const { metadata, llmnr, dnsmasq, taps, shaper, watch, firewall, plan, claim } = parts;
  const errors: unknown[] = [];
  const settle = async (step: () => Promise<void>): Promise<unknown[]> => {
    try {
      await step();
      return [];
    } catch (error) {
      return [error];
    }
  };
  const attempt = async (step: () => Promise<void>) => {
    const failed = await settle(step);
    errors.push(...failed);
    return failed.length === 0;
  };
  // The metadata server, LLMNR and dnsmasq serve apart from each other: they stop together, so
  // that dnsmasq's exit (its own process closing two sockets per network) overlaps closing
  // LLMNR's sockets here (one per network: ≈ 60 ms at 4096). dnsmasq is signalled first: LLMNR's
  // closing, synchronous, waits for the next turn of the event loop, after the SIGTERM is out.
  const dnsmasqStopped = settle(() => dnsmasq.stop());
  const metadataClosed = settle(() => metadata.close());
  const llmnrStopped = settle(async () => {
    await nextTurn();
    await llmnr?.stop();
  });
  // Their errors in the order the steps ran in before they overlapped.
  for (const failed of await Promise.all([metadataClosed, llmnrStopped, dnsmasqStopped])) {
    errors.push(...failed);
  }
  // The firewall goes last, and only once the TAPs are gone: a TAP left behind (its removal
  // failed) stays isolated, and `tapnet cleanup` can finish the job.
  // The watch keeps the rules while TAPs exist, and ends before they are removed: nothing
  // puts them back after (firewall.remove also ends it, this makes the order explicit).
  const tapsRemoved = await attempt(() => taps.remove());
  // The IFBs after the TAPs that redirect to them (a TAP left redirects into nothing: dropped).
  await attempt(() => shaper.remove());
  await attempt(() => watch.close());
  if (tapsRemoved) await attempt(() => firewall.remove(plan.prefix));
  // The prefix is given up last, and only when everything is gone: while anything of this pool
  // may remain, no other pool or cleanup may act on the prefix (the process's exit frees it).
  if (errors.length === 0) await claim.release();
  return errors;
}
