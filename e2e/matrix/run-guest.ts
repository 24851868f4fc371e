// Boots one matrix guest on its network and collects what its probes reported.
import type { Network } from 'tapnet';
import type { GuestImage } from '../guest/build.ts';
import { type ProbeResult, parseProbeResults } from '../src/probes.ts';
import { bootGuest, type GuestRun } from '../src/qemu.ts';
import type { GuestSlot } from './guests.ts';

export const GUEST_TIMEOUT_MS = 420_000;

/** The probe results a guest reported: its POST, else what it echoed on the console. */
export interface GuestOutcome {
  slot: GuestSlot;
  network: Network;
  run?: GuestRun;
  error?: unknown;
  posted?: { output: string; exitCode: number };
  probes: Record<string, ProbeResult>;
}

export async function runGuest(
  image: GuestImage,
  name: string,
  network: Network,
  slot: GuestSlot,
): Promise<GuestOutcome> {
  network.setHandler(slot.handler);
  const outcome: GuestOutcome = { slot, network, probes: {} };
  try {
    outcome.run = await bootGuest({
      image,
      name,
      mode: 'dhcp',
      netArgs: network.qemuArgs('n0'),
      append: 'tapnet.timeout=360',
      timeoutMs: GUEST_TIMEOUT_MS,
    });
    const posted = await Promise.race([
      slot.result,
      new Promise<undefined>((resolve) => setTimeout(resolve, 5000, undefined)),
    ]);
    if (posted) outcome.posted = posted;
    outcome.probes = parseProbeResults(posted?.output ?? outcome.run.output);
  } catch (error) {
    outcome.error = error;
  }
  return outcome;
}
