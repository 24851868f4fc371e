import { readFile, rm } from 'node:fs/promises';
import { InvalidConfigError } from './errors.js';
import { fileNames } from './options.js';
import { isSafeAbsolutePath } from './validate.js';

/** Whether a NUL-separated /proc/<pid>/cmdline is a dnsmasq run on `configPath`. */
export function isDnsmasqFor(cmdline: string, configPath: string): boolean {
  const argv = cmdline.split('\0');
  const program = argv[0]?.split('/').pop() ?? '';
  return program.startsWith('dnsmasq') && argv.includes(`--conf-file=${configPath}`);
}

async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; only its parent's wait() is missing.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Sends SIGTERM, then SIGKILL after `graceMs`, to a process that is not our child; resolves once it is gone. */
export async function terminate(pid: number, graceMs = 3000): Promise<void> {
  const signalIt = (signal: NodeJS.Signals) => {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  };
  signalIt('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (await alive(pid)) {
    if (Date.now() >= deadline) {
      signalIt('SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const killDeadline = Date.now() + 2000;
  while ((await alive(pid)) && Date.now() < killDeadline)
    await new Promise((r) => setTimeout(r, 20));
}

/**
 * Stops a dnsmasq left over from an earlier run on `stateDir`: the pid in its pid file is
 * signalled only when that process is a dnsmasq started with our config path, so a reused pid
 * is never touched. Resolves true when one was stopped.
 */
export async function stopStaleDnsmasq(stateDir: string): Promise<boolean> {
  if (!isSafeAbsolutePath(stateDir)) {
    throw new InvalidConfigError(
      'stateDir',
      'an absolute path of letters, digits and `_.+@:/-` (no `..`)',
      stateDir,
    );
  }
  const dir = stateDir.length > 1 ? stateDir.replace(/\/+$/, '') : '';
  const pidPath = `${dir}/${fileNames.pid}`;
  let text: string;
  try {
    text = await readFile(pidPath, 'utf8');
  } catch {
    return false;
  }
  const pid = Number(text.trim());
  if (!Number.isSafeInteger(pid) || pid <= 1 || pid === process.pid) return false;
  let cmdline: string;
  try {
    cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    await rm(pidPath, { force: true });
    return false;
  }
  if (!isDnsmasqFor(cmdline, `${dir}/${fileNames.config}`) || !(await alive(pid))) return false;
  await terminate(pid);
  await rm(pidPath, { force: true });
  return true;
}
