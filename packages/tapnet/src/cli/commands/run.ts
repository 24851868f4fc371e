import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NIC_MODELS, type NicModel, netDevice } from '@tapnet/qemu-args';
import { execa } from 'execa';
import { TapnetError } from '../../errors.js';
import { handlerFromSource } from '../../metadata-source.js';
import { Pool } from '../../pool.js';
import { UserNetwork } from '../../user-network.js';
import { limitsText } from '../limits-text.js';
import type { Output } from '../output.js';
import type { Values } from '../parse.js';
import { isTaken, poolOptionsOf, runCandidates } from '../pool-options.js';
import { STOP_SIGNALS, signalExitCode, trapStopSignals } from '../signals.js';
import { checkUplink } from '../uplink.js';

/** Runs QEMU with a network of its own; exits with QEMU's status (127 when it is not found). */
export async function runCommand(values: Values, out: Output, argv: string[]): Promise<number> {
  const [qemu, ...qemuArgs] = argv as [string, ...string[]];
  // parse.ts has checked it against CHOICES.model, which is NIC_MODELS.
  const model = (values.model ?? NIC_MODELS[0]) as NicModel;
  const handler =
    values.metadata === undefined ? undefined : await handlerFromSource(values.metadata);
  if (typeof values.uplink === 'string' && values.uplink !== 'none')
    await checkUplink(values.uplink, 'run');
  const cleanups: (() => Promise<void>)[] = [];
  // Until the network is gone again no stop signal kills the process (a hang-up included):
  // QEMU gets it while it runs; one that arrives before QEMU starts means it never does.
  const trap = trapStopSignals();
  try {
    let netArgs: string[];
    if (values.user) {
      let folder = values['socket-folder'];
      if (folder === undefined) {
        const made = await mkdtemp(join(tmpdir(), 'tapnet-'));
        cleanups.push(() => rm(made, { recursive: true, force: true }));
        folder = made;
      }
      const network = await UserNetwork.create(folder);
      cleanups.push(() => network.release());
      if (handler) network.setHandler(handler);
      netArgs = [
        '-netdev',
        network.netdev('net0'),
        '-device',
        netDevice({ model, netdev: 'net0' }),
      ];
    } else {
      const pool = await createRunPool(values);
      cleanups.push(() => pool.dispose());
      const network = pool.network();
      if (handler) network.setHandler(handler);
      netArgs = network.qemuArgs('net0', { model });
      out.emit(
        {
          event: 'network',
          name: network.name,
          subnet: network.subnet,
          gateway: network.gateway,
          mac: network.mac,
          limits: network.limits,
        },
        () =>
          `tapnet: ${network.name} ${network.subnet} (gateway ${network.gateway}, mac ${network.mac}, limits ${limitsText(network.limits)})`,
      );
    }
    if (trap.signal) return signalExitCode(trap.signal);
    return await runChild(qemu, [...qemuArgs, ...netArgs]);
  } finally {
    try {
      for (const cleanup of cleanups.reverse()) await cleanup();
    } finally {
      trap.release();
    }
  }
}

/**
 * A pool of its own for this run: the first free prefix (and range) of the candidates. The
 * metadata endpoint (169.254.169.254:80) is one per network namespace, so a second pool cannot
 * serve it while another lives: that is reported as what it is.
 */
async function createRunPool(values: Values): Promise<Pool> {
  let lastError: unknown;
  for (const candidate of runCandidates(values)) {
    try {
      return await Pool.create(poolOptionsOf(values, candidate));
    } catch (error) {
      if (metadataEndpointTaken(error)) {
        throw new TapnetError(
          'ERR_METADATA_IN_USE',
          'Another pool already serves the metadata service in this network namespace (one metadata endpoint per namespace): run these VMs through that pool (`tapnet up`, or the library), or each `tapnet run` in a network namespace of its own',
          { cause: error },
        );
      }
      if (!isTaken(error)) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

function metadataEndpointTaken(error: unknown): boolean {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | null;
  return e?.code === 'ERR_LISTEN' && e.cause?.code === 'EADDRINUSE';
}

async function runChild(file: string, args: string[]): Promise<number> {
  const child = execa(file, args, { stdio: 'inherit', reject: false });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const s of STOP_SIGNALS) process.on(s, forward);
  try {
    const result = await child;
    if (result.failed && result.exitCode === undefined && !result.signal) {
      const code = (result.cause as { code?: string } | undefined)?.code;
      if (code === 'ENOENT') {
        throw new TapnetError('ERR_QEMU_NOT_FOUND', `QEMU binary \`${file}\` not found on PATH`, {
          cause: result.cause,
        });
      }
      throw new TapnetError(
        'ERR_QEMU_SPAWN',
        `Could not start \`${file}\`: ${result.shortMessage}`,
        {
          cause: result.cause,
        },
      );
    }
    if (result.signal) return signalExitCode(result.signal);
    return result.exitCode ?? 1;
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, forward);
  }
}
