// Boots the test guest under QEMU, captures its serial console, enforces a deadline and always
// kills QEMU. TCG by default; KVM only where `probeKvm()` has seen it boot the guest.

import { constants } from 'node:fs';
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { type GuestImage, repoRoot } from '../guest/build.ts';

export type GuestNetMode = 'none' | 'dhcp' | 'user';
export type Accel = 'auto' | 'tcg' | 'kvm';

export interface BootGuestOptions {
  image: GuestImage;
  /** QEMU network arguments, e.g. `['-netdev', 'tap,…', '-device', 'virtio-net-pci,…']`; empty: `-nic none`. */
  netArgs?: readonly string[];
  /** What /init does with the network (`tapnet.net=`); default `none` without netArgs, else `dhcp`. */
  mode?: GuestNetMode;
  /** Extra kernel command line, appended after the guest's own. */
  append?: string;
  /** QEMU is killed (SIGKILL) and the boot rejected after this long. */
  timeoutMs: number;
  /** Names the serial log: `.test-results/guests/<name>.log`. */
  name: string;
  /** `auto` (default): KVM when `probeKvm()` has seen it work, else TCG. */
  accel?: Accel;
  /** QEMU binary; default `qemu-system-x86_64`. */
  qemu?: string;
  memoryMb?: number;
  signal?: AbortSignal;
  /** Called with every console line as it arrives (markers live). */
  onLine?: (line: string) => void;
}

export interface GuestMarker {
  /** First word after `TAPNET-GUEST:` (`init`, `nic`, `lease`, `dns`, `scenario`, `result`, `error`, `poweroff`). */
  event: string;
  /** The second word when it is not `key=value` (`scenario fetched` → `fetched`). */
  detail?: string;
  fields: Record<string, string>;
  line: string;
}

export interface GuestRun {
  /** Serial console, `\r` removed. */
  console: string;
  /** QEMU's exit code (0 after the guest powered off). */
  exitCode: number;
  /** QEMU's own stderr (argument errors, warnings). */
  stderr: string;
  durationMs: number;
  markers: GuestMarker[];
  /** Lines the guest echoed from the scenario's output (`TAPNET-OUT:`), prefix removed. */
  output: string[];
  /** True when the guest said it powered off after completing (`poweroff reason=done`) and QEMU exited 0. */
  completed: boolean;
  accel: 'tcg' | 'kvm';
  logFile: string;
}

export class GuestError extends Error {
  override name = 'GuestError';
  readonly code: 'ERR_GUEST_TIMEOUT' | 'ERR_GUEST_ABORTED' | 'ERR_GUEST_SPAWN';
  readonly console: string;
  readonly logFile: string;
  constructor(
    code: GuestError['code'],
    message: string,
    details: { console: string; logFile: string; cause?: unknown },
  ) {
    super(message, { cause: details.cause });
    this.code = code;
    this.console = details.console;
    this.logFile = details.logFile;
  }
}

const MARKER = 'TAPNET-GUEST: ';
const OUTPUT = 'TAPNET-OUT: ';
export const guestLogDir = join(repoRoot, '.test-results/guests');

export function parseMarker(line: string): GuestMarker | undefined {
  const at = line.indexOf(MARKER);
  if (at < 0) return undefined;
  const text = line.slice(at + MARKER.length).trim();
  // Values may hold spaces (`reason=wget: bad address`): a value runs to the next ` key=`.
  const [head = '', ...rest] = text.split(/ (?=[\w.-]+=)/);
  const [event = '', detail] = head.split(' ', 2);
  const fields: Record<string, string> = {};
  for (const pair of rest) {
    const eq = pair.indexOf('=');
    fields[pair.slice(0, eq)] = pair.slice(eq + 1).trim();
  }
  // `init reached net=none`: the first pair may be glued to the head when there is no detail.
  if (head.includes('=')) {
    const eq = head.indexOf('=');
    fields[head.slice(0, eq)] = head.slice(eq + 1);
    return { event: '', fields, line: text };
  }
  return detail ? { event, detail, fields, line: text } : { event, fields, line: text };
}

function safeName(name: string): string {
  return name.replace(/[^\w.-]+/g, '_').slice(0, 120) || 'guest';
}

/**
 * Kernel command line for a mode. `no_timer_check`: under TCG on a loaded host the kernel's
 * IO-APIC timer check can miss its ticks and panic ("IO-APIC + timer doesn't work"), seen at
 * load ≈ 25 on the 2-core CI machine; the check proves nothing a guest here needs.
 */
export function guestCmdline(mode: GuestNetMode, append?: string): string {
  return ['console=ttyS0', 'quiet', 'panic=-1', 'no_timer_check', `tapnet.net=${mode}`, append]
    .filter(Boolean)
    .join(' ');
}

/** The full QEMU argv (without the binary) for a boot; pure, for tests and logs. */
export function qemuArgv(options: {
  image: GuestImage;
  netArgs: readonly string[];
  mode: GuestNetMode;
  append?: string;
  accel: 'tcg' | 'kvm';
  memoryMb?: number;
}): string[] {
  return [
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-accel',
    options.accel,
    '-m',
    String(options.memoryMb ?? 256),
    // The console on stdout; stdin stays an open pipe nobody writes, so QEMU never sees EOF.
    '-chardev',
    'stdio,id=console,signal=off',
    '-serial',
    'chardev:console',
    ...(options.netArgs.length > 0 ? options.netArgs : ['-nic', 'none']),
    '-kernel',
    options.image.kernel,
    '-initrd',
    options.image.initrd,
    '-append',
    guestCmdline(options.mode, options.append),
  ];
}

/**
 * Boots the guest and resolves when QEMU exits (after the guest powers off). Rejects with a
 * `GuestError` carrying the console so far when the deadline passes or `signal` aborts; QEMU
 * is killed with SIGKILL whatever happens. The console is saved to `.test-results/guests/`.
 */
export async function bootGuest(options: BootGuestOptions): Promise<GuestRun> {
  const netArgs = options.netArgs ?? [];
  const mode = options.mode ?? (netArgs.length > 0 ? 'dhcp' : 'none');
  const qemu = options.qemu ?? 'qemu-system-x86_64';
  const accel = await resolveAccel(options.accel ?? 'auto', options.image, qemu);
  const argv = qemuArgv({
    image: options.image,
    netArgs,
    mode,
    append: options.append,
    accel,
    memoryMb: options.memoryMb,
  });
  const logFile = join(guestLogDir, `${safeName(options.name)}.log`);
  await mkdir(guestLogDir, { recursive: true });

  const started = performance.now();
  let consoleText = '';
  let pending = '';
  const markers: GuestMarker[] = [];
  const output: string[] = [];
  const onLine = (line: string) => {
    const marker = parseMarker(line);
    if (marker) markers.push(marker);
    const at = line.indexOf(OUTPUT);
    if (at >= 0) output.push(line.slice(at + OUTPUT.length));
    options.onLine?.(line);
  };

  const child = execa(qemu, argv, {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
    reject: false,
    encoding: 'utf8',
  });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const text = chunk.replaceAll('\r', '');
    consoleText += text;
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });

  const writeLog = async (outcome: string, stderr: string) => {
    const header = [
      `# ${options.name}: ${outcome} after ${((performance.now() - started) / 1000).toFixed(1)} s (accel ${accel})`,
      `# ${[qemu, ...argv].join(' ')}`,
      ...(stderr
        ? stderr
            .trimEnd()
            .split('\n')
            .map((l) => `# stderr: ${l}`)
        : []),
      '',
    ].join('\n');
    await writeFile(logFile, header + consoleText).catch(() => {});
  };

  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    const stopped = new Promise<never>((_, reject) => {
      const fail = (code: GuestError['code'], message: string, cause?: unknown) => {
        child.kill('SIGKILL');
        reject(new GuestError(code, message, { console: consoleText, logFile, cause }));
      };
      timer = setTimeout(
        () =>
          fail(
            'ERR_GUEST_TIMEOUT',
            `guest ${options.name} did not power off within ${options.timeoutMs} ms (QEMU killed); serial log ${logFile}; console so far:\n${consoleText}`,
          ),
        options.timeoutMs,
      );
      onAbort = () =>
        fail(
          'ERR_GUEST_ABORTED',
          `guest ${options.name} aborted (QEMU killed); console so far:\n${consoleText}`,
          options.signal?.reason,
        );
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
    });
    const result = await Promise.race([child, stopped]);
    if (pending) {
      onLine(pending);
      pending = '';
    }
    const stderr = String(result.stderr ?? '');
    if (result.failed && result.exitCode === undefined) {
      throw new GuestError('ERR_GUEST_SPAWN', `could not run ${qemu}: ${result.message}`, {
        console: consoleText,
        logFile,
        cause: result,
      });
    }
    const exitCode = result.exitCode ?? -1;
    const completed =
      exitCode === 0 && markers.some((m) => m.event === 'poweroff' && m.fields.reason === 'done');
    await writeLog(`exit ${exitCode}${completed ? '' : ' (did not complete)'}`, stderr);
    return {
      console: consoleText,
      exitCode,
      stderr,
      durationMs: performance.now() - started,
      markers,
      output,
      completed,
      accel,
      logFile,
    };
  } catch (error) {
    await writeLog(
      `failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
      '',
    );
    throw error;
  } finally {
    clearTimeout(timer);
    if (onAbort) options.signal?.removeEventListener('abort', onAbort);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await child.catch(() => {});
  }
}

// ---- KVM probe -------------------------------------------------------------------------------

export interface KvmVerdict {
  works: boolean;
  reason: string;
  key: string;
}

const kvmProbeFile = join(repoRoot, '.cache/kvm-probe.json');

async function probeKey(image: GuestImage, qemu: string): Promise<string> {
  const version = await execa(qemu, ['--version'], { reject: false });
  const first = String(version.stdout).split('\n')[0] ?? 'unknown qemu';
  // The kernel's path names its package and version; the initramfs does not matter to KVM.
  return `${first} | kernel ${image.kernel} | host ${release()}`;
}

async function readVerdicts(): Promise<Record<string, KvmVerdict>> {
  return readFile(kvmProbeFile, 'utf8').then(
    (text) => JSON.parse(text) as Record<string, KvmVerdict>,
    () => ({}),
  );
}

/**
 * Whether KVM boots the test guest on this machine: `/dev/kvm` usable and the no-network guest
 * reaching its init and powering off under `-accel kvm` within `timeoutMs`. On these machines
 * KVM aborts ("failed to set MSR") or hangs after the BIOS, so it is tried, never assumed. The
 * verdict is cached in `.cache/kvm-probe.json`, keyed by the QEMU version, the guest kernel package and the host kernel.
 */
export async function probeKvm(
  image: GuestImage,
  options: { qemu?: string; timeoutMs?: number; fresh?: boolean } = {},
): Promise<KvmVerdict> {
  const qemu = options.qemu ?? 'qemu-system-x86_64';
  const key = await probeKey(image, qemu);
  if (!options.fresh) {
    const known = (await readVerdicts())[key];
    if (known) return known;
  }
  let verdict: KvmVerdict;
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
    const run = await bootGuest({
      image,
      name: 'kvm-probe',
      accel: 'kvm',
      qemu,
      timeoutMs: options.timeoutMs ?? 15_000,
    });
    verdict = run.completed
      ? {
          works: true,
          reason: `guest powered off in ${Math.round(run.durationMs)} ms under KVM`,
          key,
        }
      : {
          works: false,
          reason: `QEMU exited ${run.exitCode} under KVM: ${run.stderr.trim().split('\n')[0] ?? ''}`,
          key,
        };
  } catch (error) {
    // The first clause of the message: what went wrong, without the (empty) console.
    const message = error instanceof Error ? error.message.split(/;|\n/)[0] : String(error);
    verdict = { works: false, reason: message ?? 'unknown', key };
  }
  const all = { ...(await readVerdicts()), [key]: verdict };
  const tmp = `${kvmProbeFile}.${process.pid}.tmp`;
  await mkdir(join(repoRoot, '.cache'), { recursive: true });
  await writeFile(tmp, `${JSON.stringify(all, null, 2)}\n`);
  await rename(tmp, kvmProbeFile);
  return verdict;
}

async function resolveAccel(accel: Accel, image: GuestImage, qemu: string): Promise<'tcg' | 'kvm'> {
  if (accel !== 'auto') return accel;
  return (await probeKvm(image, { qemu })).works ? 'kvm' : 'tcg';
}
