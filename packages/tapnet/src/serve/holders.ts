import { readFileSync } from 'node:fs';

/**
 * Who holds a network, and whether they still do. Node has no pidfd, so a process is known by
 * its pid *and* its start time (field 22 of /proc/<pid>/stat, in clock ticks since boot): a pid
 * the kernel gave to another process after the holder died has another start time, so a
 * reused pid never keeps a dead holder's network.
 */

/** The start time in /proc/<pid>/stat's text (pure); undefined when the text is not one. */
export function parseStartTime(stat: string): number | undefined {
  // The command name (field 2) is in parentheses and may itself hold spaces and parentheses:
  // the fields after it are counted from the last ')'.
  const end = stat.lastIndexOf(')');
  if (end === -1) return undefined;
  const fields = stat.slice(end + 2).split(' ');
  // fields[0] is field 3 (state); field 22 is fields[19].
  const value = fields[19];
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

/** The process's start time, or undefined when there is no such process (or it is a zombie). */
export function readStartTime(pid: number, proc = '/proc'): number | undefined {
  let text: string;
  try {
    text = readFileSync(`${proc}/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // A zombie has exited: its network is no longer in use, whatever its parent does.
  const end = text.lastIndexOf(')');
  if (text[end + 2] === 'Z' || text[end + 2] === 'X') return undefined;
  return parseStartTime(text);
}

export interface HolderState {
  pid?: number;
  startTime?: number;
  ttl?: number;
  /** ms since the epoch; undefined without a TTL. */
  expiresAt?: number;
}

export type Gone = 'holder-exited' | 'ttl-expired';

/** Why a held network should be released now, if it should (pure but for `startTimeOf`). */
export function holderGone(
  holder: HolderState,
  now: number,
  startTimeOf: (pid: number) => number | undefined,
): Gone | undefined {
  if (holder.pid !== undefined && startTimeOf(holder.pid) !== holder.startTime)
    return 'holder-exited';
  if (holder.expiresAt !== undefined && now >= holder.expiresAt) return 'ttl-expired';
  return undefined;
}
