import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeNetns, run, snapshotNamespace, waitFor } from '@tapnet/testing';
import { execa } from 'execa';
import { request } from 'undici';
import { beforeAll, expect, it, onTestFinished } from 'vitest';
import { bin, startUp, tapnet } from './cli-test-support.js';

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
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
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
    onTestFinished(() => rm(folder, { recursive: true, force: true }));
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

  // Three `up`s in child processes one after the other, one SIGKILLed and cleaned up: 10 to 20 s
  // alone, past the default 30 s beside the other privileged files on a loaded 2-core machine
  // (seen twice at load 20), after which the next test found its pool still there.
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

    // A pool that is up is running by its claim, whatever its record's pid.
    const { child: live } = await startUp([
      '--size',
      '1',
      '--prefix',
      'tl',
      '--subnet',
      '10.232.0.0/24',
      '--uplink',
      'none',
    ]);
    const both = JSON.parse((await tapnet(['status', '--json'])).stdout) as {
      prefix: string;
      alive: boolean;
    }[];
    expect(Object.fromEntries(both.map((p) => [p.prefix, p.alive]))).toEqual({
      tk: false,
      tl: true,
    });
    live.kill('SIGTERM');
    expect((await live).exitCode).toBe(0);

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
  }, 120_000);

  it('reports a QEMU binary that is not there with exit 127, and leaves nothing behind', async () => {
    const before = await snapshotNamespace();
    const result = await tapnet(['run', '--', 'qemu-nope', '-m', '64']);
    expect(result.exitCode).toBe(127);
    expect(result.stderr).toContain('QEMU binary `qemu-nope` not found on PATH');
    expect(await snapshotNamespace()).toEqual(before);
  });

  it('passes QEMU’s own exit status on', async () => {
    const result = await tapnet(['run', '--uplink', 'none', '--', ...pausedQemu, '-bogus-option']);
    expect(result.exitCode).toBe(1); // QEMU refuses the option and exits 1
    expect(result.stderr).toMatch(/bogus-option/);
  });

  it.each([
    [
      ['up', '--size', 'abc'],
      /Expected --size to be a whole number, got `abc`/,
      /^Usage: tapnet up /m,
    ],
    [['status', '--bogus'], /`tapnet status` has no option `--bogus`/, /^Usage: tapnet status /m],
    [
      ['up', '--size', '1', '--uplink', 'eth9'],
      /--uplink to name a network device here, got `eth9`/,
      /^Usage: tapnet up /m,
    ],
    [['nope'], /Unknown command `nope`/, /^Usage: tapnet <command>/m],
  ])(
    'refuses %j with exit 2 and a usage line, before printing or creating anything',
    async (args, message, usage) => {
      const before = await snapshotNamespace();
      const result = await tapnet(args);
      expect(result.exitCode).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toMatch(usage);
      expect(result.stderr).not.toContain('creating pool');
      expect(await snapshotNamespace()).toEqual(before);
    },
  );

  it('reports errors as JSON on stderr with --json', async () => {
    const result = await tapnet(['up', '--size', '0', '--json']);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toBe('');
    expect(JSON.parse(result.stderr)).toEqual({
      error: expect.objectContaining({
        code: 'ERR_INVALID_OPTION',
        message: expect.stringMatching(/size/),
      }),
    });
  });

  it('prints its version and per-command help', async () => {
    const version = await tapnet(['--version']);
    expect(version.exitCode).toBe(0);
    const { version: expected } = JSON.parse(
      await readFile(resolve(import.meta.dirname, '../package.json'), 'utf8'),
    ) as { version: string };
    expect(version.stdout.trim()).toBe(`tapnet ${expected}`);
    for (const args of [
      ['up', '--help'],
      ['help', 'up'],
    ]) {
      const help = await tapnet(args);
      expect(help.exitCode).toBe(0);
      expect(help.stdout).toMatch(/^Usage: tapnet up --size N/);
      expect(help.stdout).toContain('--quiet');
    }
  });

  it('up --json streams one JSON object per line: the networks with MAC and QEMU args, then metadata requests', async () => {
    const child = execa(
      process.execPath,
      [bin, 'up', '--size', '1', '--prefix', 'tj', '--uplink', 'none', '--json'],
      {
        reject: false,
      },
    );
    const lines: unknown[] = [];
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      for (let i = buffer.indexOf('\n'); i !== -1; i = buffer.indexOf('\n')) {
        lines.push(JSON.parse(buffer.slice(0, i)));
        buffer = buffer.slice(i + 1);
      }
    });
    await waitFor(() => lines.length > 0, {
      what: 'the `up` event',
      timeout: 30_000,
      seen: () => buffer,
    });
    expect(lines[0]).toEqual({
      event: 'up',
      prefix: 'tj',
      uplink: null,
      backend: expect.any(String),
      networks: [
        {
          name: 'tj0',
          subnet: '10.231.0.0/24',
          gateway: expect.any(String),
          mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/),
          limits: {},
          qemuArgs: [
            '-netdev',
            'tap,id=net0,ifname=tj0,script=no,downscript=no',
            '-device',
            expect.stringContaining('netdev=net0'),
          ],
        },
      ],
    });
    const host = await request('http://169.254.169.254/logged');
    await host.body.dump();
    await waitFor(() => lines.length > 1, {
      what: 'a metadata-request event',
      timeout: 10_000,
      seen: () => JSON.stringify(lines),
    });
    expect(lines[1]).toEqual(
      expect.objectContaining({ event: 'metadata-request', url: '/logged', status: 403 }),
    );
    child.kill('SIGHUP'); // a closed terminal disposes too
    const result = await child;
    expect(result.exitCode).toBe(0);
    expect(lines.at(-1)).toEqual({ event: 'disposed', prefix: 'tj' });
  });

  it('a run while another run lives: its own prefix, and the shared metadata endpoint reported as taken', async () => {
    const before = await snapshotNamespace();
    // The first run's QEMU waits on its monitor until it is told to quit.
    const first = execa(process.execPath, [bin, 'run', '--uplink', 'none', '--', ...pausedQemu], {
      reject: false,
      all: true,
      stdin: 'pipe',
    });
    let said = '';
    first.all?.on('data', (chunk: Buffer) => {
      said += chunk.toString();
    });
    await waitFor(() => /tapnet: tr0 /.test(said), {
      what: 'the first run to start',
      timeout: 30_000,
      seen: () => said,
    });
    const second = await tapnet(['run', '--uplink', 'none', '--', ...pausedQemu], {
      input: 'quit\n',
    });
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toMatch(
      /Another pool already serves the metadata service in this network namespace.*\[ERR_METADATA_IN_USE\]/,
    );
    first.stdin?.end('quit\n');
    expect((await first).exitCode).toBe(0);
    expect(await snapshotNamespace()).toEqual(before);
  });
});
