import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describeNetns, run, runOk, waitFor } from '@tapnet/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  macFromSeed,
  netDevice,
  parseNetdev,
  streamNetdev,
  tapNetdev,
  unixChardev,
  userNetdev,
} from './index.js';

/** A minimal QMP client over QEMU's stdio: one command at a time, events skipped. */
class Qmp {
  private readonly replies: Array<(reply: Record<string, unknown>) => void> = [];
  readonly stderr: string[] = [];
  constructor(readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as Record<string, unknown>;
      if ('return' in message || 'error' in message || 'QMP' in message)
        this.replies.shift()?.(message);
    });
    child.stderr.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString()));
  }
  next(): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.replies.push(resolve);
      this.child.once('exit', (code) =>
        reject(new Error(`QEMU exited ${code}: ${this.stderr.join('')}`)),
      );
    });
  }
  async execute(command: string, args?: object): Promise<unknown> {
    const reply = this.next();
    this.child.stdin.write(`${JSON.stringify({ execute: command, arguments: args })}\n`);
    const message = await reply;
    if ('error' in message)
      throw new Error(`QMP ${command} failed: ${JSON.stringify(message.error)}`);
    return message.return;
  }
  hmp(commandLine: string): Promise<string> {
    return this.execute('human-monitor-command', {
      'command-line': commandLine,
    }) as Promise<string>;
  }
}

/** Connects, half-closes at once (so a `nc` in between sees EOF and exits), reads to the end. */
async function startQemu(
  argv: string[],
): Promise<{ qemu: ChildProcessWithoutNullStreams; qmp: Qmp }> {
  const qemu = spawn('qemu-system-x86_64', argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  const qmp = new Qmp(qemu);
  try {
    await qmp.next(); // greeting
    await qmp.execute('qmp_capabilities');
  } catch (error) {
    await kill(qemu);
    throw error;
  }
  return { qemu, qmp };
}

async function kill(qemu: ChildProcessWithoutNullStreams | undefined): Promise<void> {
  if (!qemu || qemu.exitCode !== null || qemu.signalCode !== null) return;
  const exited = new Promise((resolve) => qemu.once('exit', resolve));
  qemu.kill('SIGKILL');
  await exited;
}

function readAll(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, allowHalfOpen: true }, () => socket.end());
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      data += chunk;
    });
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

function listen(
  path: string,
  onConnection: (socket: import('node:net').Socket) => void,
): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(onConnection);
    server.once('error', reject);
    server.listen(path, () => resolve(server));
  });
}

describeNetns('real QEMU reads what the builders write', () => {
  // A folder whose name needs both escapes: a space and quote for slirp's splitting, a comma for QEMU's.
  let dir: string;
  let qemu: ChildProcessWithoutNullStreams | undefined;
  let qmp: Qmp;
  const servers: Server[] = [];
  let chardevConnected = false;
  const argvEchoArgs = [
    "it's",
    '"q"',
    'back\\slash',
    '#hash',
    '$HOME `x`',
    'tab\tx',
    'é🦀',
    '',
    'a,,b',
    '  lead',
  ];
  let netdev: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `qemu-args a b,c'"-`));
    servers.push(
      await listen(join(dir, 'meta.sock'), (socket) =>
        socket.end('hello from the metadata socket\n'),
      ),
    );
    servers.push(
      await listen(join(dir, 'chr.sock'), () => {
        chardevConnected = true;
      }),
    );
    // The "guest" is the sandbox's own TCP stack behind a TAP that QEMU's hub joins to slirp.
    await runOk(['ip', 'tuntap', 'add', 'dev', 'tq0', 'mode', 'tap']);
    await runOk(['ip', 'addr', 'add', '169.254.0.15/16', 'dev', 'tq0']);
    await runOk(['ip', 'link', 'set', 'tq0', 'up']);
    netdev = userNetdev({
      id: 'u0',
      net: '169.254.0.0/16',
      restrict: true,
      guestfwd: [
        { server: '169.254.169.254', port: 80, cmd: ['nc', '-U', join(dir, 'meta.sock')] },
        {
          server: '169.254.169.253',
          port: 81,
          cmd: [
            process.execPath,
            '-e',
            'process.stdout.write(JSON.stringify(process.argv.slice(1)))',
            dir,
            ...argvEchoArgs,
          ],
        },
        { server: '169.254.169.252', port: 82, chardev: unixChardev(join(dir, 'chr.sock')) },
      ],
    });
    // No machine at all: netdevs only, and the VM counts as running, so slirp moves packets.
    const argv = [
      ...['-machine', 'none', '-accel', 'tcg', '-nodefaults', '-display', 'none', '-qmp', 'stdio'],
      ...['-netdev', netdev, '-netdev', tapNetdev({ id: 't0', ifname: 'tq0' })],
      ...['-netdev', 'hubport,id=h0,hubid=0,netdev=u0'],
      ...['-netdev', 'hubport,id=h1,hubid=0,netdev=t0'],
      ...['-netdev', streamNetdev({ id: 's0', path: join(dir, 'stream.sock'), server: true })],
    ];
    ({ qemu, qmp } = await startQemu(argv));
  });

  afterAll(async () => {
    await kill(qemu);
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    await run(['ip', 'link', 'del', 'tq0']);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reports the user and tap netdevs with the values it was given', async () => {
    const info = await qmp.hmp('info network');
    expect(info).toContain(' u0: index=0,type=user,net=169.254.0.0,restrict=on\r\n');
    expect(info).toContain(' t0: index=0,type=tap,ifname=tq0,script=no,downscript=no\r\n');
  });

  it('listens on the stream socket path it was given', async () => {
    await waitFor(() => existsSync(join(dir, 'stream.sock')), {
      what: 'stream.sock',
      seen: () => qmp.stderr.join(''),
    });
    expect(await qmp.hmp('info network')).toMatch(/^s0: index=0,type=stream,/m);
  });

  it('attaches the NICs with the models and MACs it was given', async () => {
    // q35 with its CPU stopped (-S): a PCI bus for the NICs, and no guest code runs.
    const nics = await startQemu([
      ...['-M', 'q35', '-S', '-accel', 'tcg', '-nodefaults', '-display', 'none', '-qmp', 'stdio'],
      ...['-netdev', userNetdev({ id: 'n1' })],
      ...[
        '-device',
        netDevice({ model: 'virtio-net-pci', netdev: 'n1', mac: macFromSeed('vm-1'), id: 'nic1' }),
      ],
      ...['-netdev', userNetdev({ id: 'n2' })],
      ...[
        '-device',
        netDevice({ model: 'e1000', netdev: 'n2', mac: '52:54:00:AB:CD:EF', id: 'nic2' }),
      ],
    ]);
    let info: string;
    try {
      info = await nics.qmp.hmp('info network');
    } finally {
      await kill(nics.qemu);
    }
    expect(info).toContain(
      `nic1: index=0,type=nic,model=virtio-net-pci,macaddr=${macFromSeed('vm-1')}\r\n`,
    );
    expect(info).toContain('nic2: index=0,type=nic,model=e1000,macaddr=52:54:00:ab:cd:ef\r\n');
  });

  it('connects a chardev forward to the socket in the folder with a space and a comma', async () => {
    await waitFor(() => chardevConnected, {
      what: 'QEMU to connect to chr.sock',
      seen: () => qmp.stderr.join(''),
    });
    expect(await qmp.hmp('info chardev')).toContain(`guestfwd.tcp.82: filename=unix:`);
  });

  it('runs the guestfwd command with the socket path intact', async () => {
    expect(await readAll('169.254.169.254', 80)).toBe('hello from the metadata socket\n');
  });

  it('splits the guestfwd command into exactly the argv it was given', async () => {
    const echoed = JSON.parse(await readAll('169.254.169.253', 81)) as string[];
    expect(echoed).toEqual([dir, ...argvEchoArgs]);
    expect(parseNetdev(netdev)).toMatchObject({
      guestfwd: [{}, { cmd: expect.arrayContaining(argvEchoArgs) }, {}],
    });
  });
});
