// Removing what a pool run made, as its state record says: shared by create's rollback and
// remove(), and by cleanupPool after a crash. Only what is provably ours is deleted.
import { readFileSync, writeFileSync } from 'node:fs';
import { failedLines, IP_FORWARD, removeScript, sysctlPath, unaddressScript } from './commands.js';
import { CommandError, SysctlError } from './errors.js';
import { type LinkInfo, readAddressesOf, readLinks } from './host.js';
import type { Runner } from './runner.js';
import type { StateRecord } from './state.js';

export interface CleanupReport {
  removedDevices: string[];
  /** `address dev device`, e.g. `169.254.169.254/32 dev lo`. */
  removedAddresses: string[];
  /** `name=value` as restored, e.g. `net.ipv4.ip_forward=0`. */
  restoredSysctls: string[];
  /** What was found but left alone, and why. */
  skipped: { name: string; reason: string }[];
}

export function readSysctl(root: string, key: string): string {
  try {
    return readFileSync(sysctlPath(key, root), 'utf8').trim();
  } catch (error) {
    throw new SysctlError(`Could not read ${key}`, { cause: error });
  }
}

export function writeSysctl(root: string, key: string, value: string): void {
  try {
    writeFileSync(sysctlPath(key, root), value);
  } catch (error) {
    throw new SysctlError(`Could not set ${key}=${value}`, { cause: error });
  }
}

export function matchesScheme(prefix: string, name: string): boolean {
  return name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length));
}

/**
 * Removes what a record says its run made: recorded devices that are still TAPs, the metadata
 * IP if that run added it, and ip_forward if it still holds the value that run wrote. Anything
 * else (a recorded name now carried by another kind of device, a device of our naming scheme
 * that is not in the record) is reported as skipped.
 */
export async function teardown(
  record: StateRecord,
  runner: Runner,
  root: string,
): Promise<CleanupReport> {
  const report: CleanupReport = {
    removedDevices: [],
    removedAddresses: [],
    restoredSysctls: [],
    skipped: [],
  };
  const metadata = record.metadataIp?.cidr;
  // Only lo's addresses are needed (is the metadata IP still there?): not every device's.
  const [links, loAddresses] = await Promise.all([
    readLinks(runner),
    metadata === undefined ? [] : readAddressesOf(runner, 'lo'),
  ]);
  const recorded = new Set(record.devices);
  // Ours only when it carries this run's mark: a record can be wrong, the kernel's link is not.
  const marked = (link: LinkInfo) => record.mark !== undefined && link.alias === record.mark;
  for (const name of record.devices) {
    const link = links.get(name);
    if (!link) continue;
    if (!link.isTap) {
      report.skipped.push({ name, reason: `not a TAP device (kind ${link.kind}), so not ours` });
    } else if (!marked(link)) {
      report.skipped.push({
        name,
        reason: `does not carry this pool's mark (ifalias ${JSON.stringify(link.alias)}), so not provably ours`,
      });
    } else report.removedDevices.push(name);
  }
  for (const name of links.keys()) {
    if (matchesScheme(record.prefix, name) && !recorded.has(name)) {
      report.skipped.push({ name, reason: 'not in the state record' });
    }
  }
  const metadataPresent = metadata !== undefined && loAddresses.some((a) => a.cidr === metadata);
  if (metadataPresent) report.removedAddresses.push(`${metadata} dev lo`);
  // Delete by link group only when everything in the group is a TAP of this record.
  const group = record.linkGroup === undefined ? undefined : String(record.linkGroup);
  const members = group === undefined ? [] : [...links.values()].filter((l) => l.group === group);
  const groupIsOurs =
    members.length > 0 && members.every((l) => l.isTap && marked(l) && recorded.has(l.name));
  for (const l of members) {
    if (!groupIsOurs && !recorded.has(l.name)) {
      report.skipped.push({
        name: l.name,
        reason: "in the pool's link group but not in the state record",
      });
    }
  }
  const removal = groupIsOurs
    ? {
        group: record.linkGroup,
        devices: report.removedDevices.filter((d) => links.get(d)?.group !== group),
      }
    : { devices: report.removedDevices };
  if (report.removedDevices.length > 0 || metadataPresent) {
    const unaddress = unaddressScript(report.removedDevices);
    // -4: `addr del dev X` with no address deletes X's first IPv4 address (see unaddressScript).
    const argv = ['ip', '-4', '-force', '-batch', '-'];
    const input = unaddress + removeScript(removal, metadataPresent ? metadata : undefined);
    // -force: carry on past a failure so one odd device does not keep the rest alive. A failed
    // line before the deletions is no failure (a device with no IPv4 address left, say): each
    // device is deleted all the same.
    const result = await runner(argv, { input });
    const addressLines = unaddress.split('\n').length - 1;
    const failed = failedLines(result.stderr);
    if (result.exitCode !== 0 && !(failed.length > 0 && failed.every((l) => l <= addressLines))) {
      throw new CommandError('Could not remove the pool', {
        argv,
        exitCode: result.exitCode,
        stderr: result.stderr,
        input,
      });
    }
  }
  if (record.ipForward && record.ipForward.prior !== record.ipForward.value) {
    const current = readSysctl(root, IP_FORWARD);
    if (current === record.ipForward.value) {
      writeSysctl(root, IP_FORWARD, record.ipForward.prior);
      report.restoredSysctls.push(`${IP_FORWARD}=${record.ipForward.prior}`);
    } else if (current !== record.ipForward.prior) {
      // (When it still holds the prior value, the run never got to write it.)
      report.skipped.push({
        name: IP_FORWARD,
        reason: `changed to ${current} by someone else since; left alone`,
      });
    }
  }
  return report;
}
