import { existsSync } from 'node:fs';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeNetns, run, snapshotNamespace, waitFor } from '@tapnet/testing';
import { execa } from 'execa';
import { request } from 'undici';
import { beforeAll, expect, it } from 'vitest';

const bin = resolve(import.meta.dirname, '../dist/bin.js');
const tapnet = (args: string[], options: { input?: string } = {}) =>
  execa(process.execPath, [bin, ...args], {
    reject: false,
    all: true,
    timeout: 60_000,
    ...options,
  });

// A QEMU that never runs a guest: it opens its netdev, answers `info network` on its monitor
// (stdin) and quits.
const pausedQemu = [
  'qemu-system-x86_64',
  '-machine',
  'q35',
  '-accel',
  'tcg',
  '-S',
  '-nodefaults',
  '-display',
  'none',
  '-monitor',
  'stdio',
];

/** Starts `tapnet up …` and resolves once it printed its table; `output()` is all it said. */
async function startUp(args: string[]) {
  const child = execa(process.execPath, [bin, 'up', ...args], { reject: false, all: true });
  let output = '';
  child.all?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitFor(() => output.includes('Ctrl-C to dispose'), {
    what: `\`tapnet up ${args.join(' ')}\` to print its table`,
    timeout: 30_000,
    seen: () => output,
  });
  return { child, output: () => output };
}

describeNetns('the tapnet CLI', () => {
  beforeAll(() => {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: build first (pnpm build)`);
  });

  it('doctor reports each prerequisite with a fix', async () => {
    const result = await tapnet(['doctor', '--json']);
    const checks = JSON.parse(result.stdout) as { name: string; status: string; fix?: string }[];
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(byName.privileges?.status).toBe('ok');
    expect(byName['/dev/net/tun']?.status).toBe('ok');
    expect(byName.dnsmasq?.status).toBe('ok');
    expect(byName['address plan']?.status).toBe('ok');
    for (const c of checks) if (c.status !== 'ok') expect(c.fix).toBeTruthy();
    expect(result.exitCode).toBe(checks.some((c) => c.status === 'fail') ? 1 : 0);
  });

  it('up serves metadata from a file until Ctrl-C, then leaves the namespace clean', async () => {
    const before = await snapshotNamespace();
    const dir = await mkdtemp(join(tmpdir(), 'tapnet-cli-'));
    const file = join(dir, 'metadata.json');
    await writeFile(file, JSON.stringify({ '*': { '/hello': 'world' } }));
    const { child, output: said } = await startUp([
      '--size',
      '2',
      '--prefix',
      'tu',
      '--metadata',
      file,
    ]);
    const output = said();
    expect(output).toMatch(/tu0\s+10\.231\.0\.0\/24/);
    expect(output).toMatch(/tu1\s+10\.231\.1\.0\/24/);
    expect((await run(['ip', '-o', 'link', 'show', 'tu1'])).exitCode).toBe(0);
    const host = await request('http://169.254.169.254/hello');
    expect(host.statusCode).toBe(403); // the host is not one of the pool's networks
    await host.body.dump();
    child.kill('SIGINT');
    const result = await child;
    expect(result.exitCode).toBe(0);
    expect(result.all).toContain('pool tu disposed');
    expect(await snapshotNamespace()).toEqual(before);
  });

  it('run appends its -netdev/-device to QEMU, and releases the network when QEMU exits', async () => {
    const before = await snapshotNamespace();
    const result = await tapnet(['run', '--model', 'e1000', '--', ...pausedQemu], {
      input: 'info network\nquit\n',
    });
    expect(result.exitCode).toBe(0);
    // QEMU itself reports the TAP it opened and the NIC with the network's MAC.
    expect(result.all).toMatch(/net0: index=0,type=tap,ifname=tr0,script=no,downscript=no/);
    expect(result.all).toMatch(/e1000.*macaddr=([0-9a-f]{2}:){5}[0-9a-f]{2}/);
    expect(await snapshotNamespace()).toEqual(before);
  });

  it('run --user gives QEMU a user-mode network with metadata through a socket, and removes it after', async () => {
    const before = await snapshotNamespace();
    const folder = await mkdtemp(join(tmpdir(), 'tapnet run, user '));
    const result = await tapnet(['run', '--user', '--socket-folder', folder, '--', ...pausedQemu], {
      input: 'info network\nquit\n',
    });
    expect(result.exitCode).toBe(0);
    // QEMU reports the user netdev on the metadata network and the NIC the CLI appended.
    expect(result.all).toMatch(/net0: index=0,type=user,net=169\.254\.0\.0,restrict=off/);
    expect(result.all).toMatch(/virtio-net-pci/);
    // The socket lived in the folder while QEMU ran and is gone now; the folder is the caller's.
    expect(await readdir(folder)).toEqual([]);
    expect(await snapshotNamespace()).toEqual(before);
  });

  it('cleanup removes what a SIGKILLed `up` left behind, and a new pool starts', async () => {
    const before = await snapshotNamespace();
    const { child } = await startUp(['--size', '2', '--prefix', 'tk']);
    child.kill('SIGKILL');
    await child;
    expect((await run(['ip', '-o', 'link', 'show', 'tk0'])).exitCode).toBe(0); // left behind

    const status = await tapnet(['status', '--json']);
    expect(JSON.parse(status.stdout)).toEqual([
      expect.objectContaining({ prefix: 'tk', alive: false }),
    ]);

    const cleanup = await tapnet(['cleanup', '--prefix', 'tk', '--json']);
    expect(cleanup.exitCode).toBe(0);
    const [report] = JSON.parse(cleanup.stdout) as {
      taps: { removedDevices: string[] };
      dnsmasqStopped: boolean;
    }[];
    expect(report!.taps.removedDevices.sort()).toEqual(['tk0', 'tk1']);
    expect(report!.dnsmasqStopped).toBe(true);
    expect(await snapshotNamespace()).toEqual(before);

    // A second cleanup finds nothing; a new pool with the prefix starts.
    const again = await tapnet(['cleanup', '--prefix', 'tk', '--json']);
    expect(JSON.parse(again.stdout)[0].taps.removedDevices).toEqual([]);
    const { child: up } = await startUp(['--size', '2', '--prefix', 'tk']);
    up.kill('SIGTERM');
    expect((await up).exitCode).toBe(0);
    expect(await snapshotNamespace()).toEqual(before);
  });
});
