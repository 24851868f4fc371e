import { closeSync, constants, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkFolderChain,
  currentIdentity,
  describeUnsafeFolder,
  ensureSecureFolder,
  parseCidr,
  type UnsafeFolder,
  writeFileAtomicSync,
} from '@tapnet/internal';
import { StateError, UnsafeStateDirError } from './errors.js';

/** What a pool run created (or set out to create), kept at `${stateDir}/${prefix}.json`. */
export interface StateRecord {
  version: 1;
  prefix: string;
  /** The process that owns the pool; a record whose pid is alive belongs to a live pool. */
  pid: number;
  createdAt: string;
  range: string;
  /** The link group of the pool's TAPs (absent in records of older versions). */
  linkGroup?: number;
  /**
   * The ifalias every TAP of this run carries, `tapnet:<prefix>:<random id>`, set in the batch
   * that creates it: cleanup deletes only devices that carry it, whatever else the record names.
   * Absent in records of older versions (then no device can be proven ours and none is deleted).
   */
  mark?: string;
  /** Devices this run creates; written before the first is made, so a crash leaves none unknown. */
  devices: string[];
  /** The TAP batch finished. */
  tapsCreated: boolean;
  /** Addresses, link up and the metadata IP finished. */
  configured: boolean;
  /** Set when the metadata IP was absent from `lo` and this run adds it (`added` once it did). */
  metadataIp: { cidr: string; added: boolean } | null;
  /** Set when this run changes `net.ipv4.ip_forward`: the value before and the value written. */
  ipForward: { prior: string; value: string } | null;
}

export function statePath(stateDir: string, prefix: string): string {
  return join(stateDir, `${prefix}.json`);
}

function isRecord(value: unknown): value is StateRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Partial<StateRecord>;
  return (
    r.version === 1 &&
    typeof r.prefix === 'string' &&
    typeof r.pid === 'number' &&
    Array.isArray(r.devices) &&
    // Cleanup acts on what the record names: only ever our own devices and a /32 metadata
    // address outside loopback, whatever was written into the file.
    r.devices.every((d) => typeof d === 'string' && isOwnDevice(r.prefix as string, d)) &&
    (r.metadataIp === undefined || r.metadataIp === null || isMetadataCidr(r.metadataIp.cidr)) &&
    // A run only ever turns forwarding on, from off.
    (r.ipForward === undefined ||
      r.ipForward === null ||
      (r.ipForward.prior === '0' && r.ipForward.value === '1')) &&
    (r.mark === undefined || r.mark === deviceMarkPattern(r.prefix, r.mark)) &&
    (r.linkGroup === undefined || (Number.isInteger(r.linkGroup) && r.linkGroup > 0))
  );
}

const MARK_ID = /^[0-9a-f]{16}$/;

/** `mark` when it is `tapnet:<prefix>:<16 hex digits>`, else undefined. */
function deviceMarkPattern(prefix: string, mark: unknown): string | undefined {
  if (typeof mark !== 'string') return undefined;
  const head = `tapnet:${prefix}:`;
  return mark.startsWith(head) && MARK_ID.test(mark.slice(head.length)) ? mark : undefined;
}

/** The ifalias that proves a device was made by the run with this id. */
export function deviceMark(prefix: string, id: string): string {
  return `tapnet:${prefix}:${id}`;
}

function isOwnDevice(prefix: string, device: string): boolean {
  return (
    device.startsWith(prefix) && /^\d+$/.test(device.slice(prefix.length)) && device.length <= 15
  );
}

function isMetadataCidr(cidr: unknown): boolean {
  const parsed = parseCidr(cidr);
  const firstOctet = parsed === undefined ? 0 : parsed.base >>> 24;
  return parsed?.prefixLength === 32 && firstOctet !== 127 && firstOctet !== 0;
}

/** The record, or undefined when there is none; StateError when it is unreadable. */
export function readState(path: string): StateRecord | undefined {
  let text: string;
  try {
    // Never through a symlink: the record is a plain file we wrote.
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateError(`Could not read the state record \`${path}\``, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new StateError(
      `Expected the state record \`${path}\` to be JSON, got ${JSON.stringify(text.slice(0, 100))}`,
      {
        cause: error,
      },
    );
  }
  if (!isRecord(value))
    throw new StateError(`Expected \`${path}\` to be a tap-pool state record (version 1)`);
  return value;
}

/**
 * Writes the record atomically: a temporary file beside it, then rename. With `exclusive`, the
 * first write of a run, it links instead, which fails when a record exists: of two runs racing
 * for one prefix only one gets to create (and so to roll back) anything.
 */
export function writeState(
  path: string,
  dir: string,
  record: StateRecord,
  exclusive = false,
): void {
  ensureStateDir(dir);
  try {
    // A fresh, unpredictable temporary name, created exclusively: a symlink planted beside the
    // record is never written through.
    writeFileAtomicSync(path, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644, exclusive });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new StateError(
        `Expected no state record \`${path}\`, got one: another run holds this prefix`,
        {
          cause: error,
        },
      );
    }
    throw new StateError(`Could not write the state record \`${path}\``, { cause: error });
  }
}

function unsafe(dir: string, problem: UnsafeFolder): UnsafeStateDirError {
  return new UnsafeStateDirError(
    `${describeUnsafeFolder(dir, problem, currentIdentity())}; nothing was changed`,
    problem,
  );
}

/**
 * Creates the state folder (0700) when missing, and throws UnsafeStateDirError unless it and
 * every folder above it are owned by root or us and writable by nobody else (a sticky `/tmp`
 * above it aside): whoever can write there could plant a record that cleanup obeys.
 */
export function ensureStateDir(dir: string): void {
  const problem = ensureSecureFolder(dir);
  if (problem) throw unsafe(dir, problem);
}

/** The same check without creating anything (for cleanup and status, which only read). */
export function checkStateDir(dir: string): void {
  const problem = checkFolderChain(dir);
  if (problem) throw unsafe(dir, problem);
}

export function deleteState(path: string): void {
  rmSync(path, { force: true });
}

/** Whether a process with this pid exists (EPERM means it does, owned by someone else). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
