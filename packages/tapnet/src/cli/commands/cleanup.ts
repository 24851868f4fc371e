import { cleanupLeftovers, type LeftoverReport } from '../../pool.js';
import type { Output } from '../output.js';
import type { Values } from '../parse.js';
import { DEFAULT_STATE_DIR, recordedPrefixes } from './status.js';

export async function cleanupCommand(values: Values, out: Output): Promise<number> {
  const stateDir = values['state-dir'] ?? DEFAULT_STATE_DIR;
  const prefixes = values.prefix !== undefined ? [values.prefix] : await recordedPrefixes(stateDir);
  const reports: LeftoverReport[] = [];
  for (const prefix of prefixes) reports.push(await cleanupLeftovers(prefix, stateDir));
  out.emit(reports, () =>
    reports.length === 0
      ? `nothing recorded in ${stateDir}; pass --prefix to clean up a pool by name`
      : reports.map(describe).join('\n'),
  );
  return reports.some((r) => r.running) ? 1 : 0;
}

function describe(r: LeftoverReport): string {
  if (r.running) return `pool ${r.prefix}: running (pid ${r.running}); left alone`;
  return [
    `pool ${r.prefix}:`,
    `  dnsmasq: ${r.dnsmasqStopped ? 'stopped a leftover process' : 'none running'}`,
    `  firewall: ${r.firewall.removed.length ? r.firewall.removed.join(', ') : 'nothing to remove'}`,
    `  devices: ${r.taps.removedDevices.length ? r.taps.removedDevices.join(', ') : 'nothing to remove'}`,
    ...r.taps.skipped.map((x) => `  left alone: ${x.name} (${x.reason})`),
  ].join('\n');
}
