import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@tapnet/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DnsResponse } from './dns-message.js';
import { Dnsmasq, type RestartEvent } from './dnsmasq.js';
import { DnsmasqStartError, InvalidConfigError } from './errors.js';
import { testNetworks } from './fixtures.test-helpers.js';
import type { Lease } from './leases.js';
import type { ChildExit, ChildProcess, Runner } from './runner.js';

// Supervision logic against a recorded fake runner; the real dnsmasq is exercised in dnsmasq.netns.test.ts.
interface FakeChild extends ChildProcess {
  argv: readonly string[];
  signals: string[];
  done: boolean;
  exit(exit: ChildExit, output?: string): void;
}

function fakeRunner(
  options: {
    answers?: boolean;
    exitAtOnce?: ChildExit & { output?: string };
    /** What the child logs on SIGUSR1, in two chunks (none: it logs nothing). */
    statsOutput?: [string, string];
  } = {},
) {
  const children: FakeChild[] = [];
  let nextPid = 1000;
  const runner: Runner = {
    spawn(file, args) {
      let resolveExit!: (exit: ChildExit) => void;
      const listeners: ((text: string) => void)[] = [];
      const child: FakeChild = {
        pid: nextPid++,
        argv: [file, ...args],
        signals: [],
        done: false,
        exited: new Promise((resolve) => {
          resolveExit = resolve;
        }),
        onOutput: (listener) => listeners.push(listener),
        kill(signal) {
          child.signals.push(signal);
          if (signal === 'SIGUSR1') {
            for (const chunk of options.statsOutput ?? [])
              setImmediate(() => {
                for (const listener of listeners) listener(chunk);
              });
            return;
          }
          child.exit({ exitCode: undefined, signal });
        },
        exit(exit, output = '') {
          if (child.done) return;
          child.done = true;
          for (const listener of listeners) listener(output);
          resolveExit(exit);
        },
      };
      children.push(child);
      if (options.exitAtOnce) {
        const { output, ...exit } = options.exitAtOnce;
        queueMicrotask(() => child.exit(exit, output));
      }
      return child;
    },
    async queryDns(_server, name): Promise<DnsResponse> {
      const child = children[children.length - 1];
      if (options.answers === false || !child || child.done) throw new Error('timeout');
      return {
        id: 0,
        rcode: 0,
        answers: [{ type: 'A', name, address: '169.254.169.254', ttl: 0 }],
      };
    },
  };
  return { runner, children, last: () => children[children.length - 1]! };
}

describe('Dnsmasq supervision (fake runner)', () => {
  let stateDir: string;
  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'tapnet-dhcp-unit-'));
  });
  afterEach(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it('starts dnsmasq in the foreground on its config file', async () => {
    const fake = fakeRunner();
    await using dnsmasq = await Dnsmasq.start({
      networks: testNetworks(2),
      stateDir,
      runner: fake.runner,
    });
    expect(fake.children.map((c) => c.argv)).toEqual([
      [
        'dnsmasq',
        '--keep-in-foreground',
        '--log-facility=-',
        `--conf-file=${stateDir}/dnsmasq.conf`,
      ],
    ]);
    expect(dnsmasq.status()).toEqual({ state: 'running', pid: 1000, restarts: 0 });
    expect(await readFile(dnsmasq.configPath, 'utf8')).toContain('interface=tntap1\n');
  });

  it('dnsStats(): one SIGUSR1 for concurrent callers, its block parsed; undefined on silence or when stopped', async () => {
    const fake = fakeRunner({
      statsOutput: [
        'dnsmasq[9]: time 1\ndnsmasq[9]: cache size 150, 2/30 cache insertions re-used unexpired cache entries.\n',
        'dnsmasq[9]: queries forwarded 4, queries answered locally 17\ndnsmasq[9]: queries for authoritative zones 0\n',
      ],
    });
    const dnsmasq = await Dnsmasq.start({
      networks: testNetworks(1),
      stateDir,
      runner: fake.runner,
    });
    const [a, b] = await Promise.all([dnsmasq.dnsStats(), dnsmasq.dnsStats()]);
    expect(a).toEqual({
      cacheSize: 150,
      evictions: 2,
      insertions: 30,
      forwarded: 4,
      answeredLocally: 17,
      authoritative: 0,
    });
    expect(b).toBe(a);
    expect(fake.last().signals).toEqual(['SIGUSR1']);
    expect(dnsmasq.status().state).toBe('running');
    await dnsmasq.stop();
    expect(await dnsmasq.dnsStats()).toBeUndefined();

    // A dnsmasq that logs nothing in answer: no sample, no error, after the timeout.
    const silent = fakeRunner();
    await using quiet = await Dnsmasq.start({
      networks: testNetworks(1),
      stateDir,
      runner: silent.runner,
    });
    expect(await quiet.dnsStats({ timeoutMs: 50 })).toBeUndefined();
  });

  it('backs off exponentially up to the cap, then gives up after maxQuickFailures', async () => {
    const fake = fakeRunner();
    await using dnsmasq = await Dnsmasq.start({
      networks: testNetworks(1),
      stateDir,
      runner: fake.runner,
      restart: {
        maxQuickFailures: 5,
        initialDelayMs: 5,
        maxDelayMs: 20,
        quickFailureWindowMs: 60_000,
      },
    });
    const restarts: RestartEvent[] = [];
    const failed: Error[] = [];
    dnsmasq.on('restart', (e) => restarts.push(e));
    dnsmasq.on('failed', (e) => failed.push(e));
    for (let i = 1; i <= 4; i++) {
      fake.last().exit({ exitCode: 2, signal: undefined }, `dnsmasq: crash ${i}\n`);
      await waitFor(() => dnsmasq.status().state === 'running' && dnsmasq.status().restarts === i, {
        what: `restart ${i}`,
      });
    }
    expect(restarts).toEqual([
      { attempt: 1, delayMs: 5, exitCode: 2, signal: undefined, stderr: 'dnsmasq: crash 1' },
      { attempt: 2, delayMs: 10, exitCode: 2, signal: undefined, stderr: 'dnsmasq: crash 2' },
      { attempt: 3, delayMs: 20, exitCode: 2, signal: undefined, stderr: 'dnsmasq: crash 3' },
      { attempt: 4, delayMs: 20, exitCode: 2, signal: undefined, stderr: 'dnsmasq: crash 4' },
    ]);
    fake.last().exit({ exitCode: undefined, signal: 'SIGSEGV' });
    await waitFor(() => failed.length === 1, { what: 'the failed event' });
    expect(dnsmasq.status()).toEqual({ state: 'failed', restarts: 4, lastError: failed[0] });
    expect(failed[0]).toMatchObject({
      code: 'ERR_DNSMASQ_FAILED',
      restarts: 4,
      cause: { signal: 'SIGSEGV' },
    });
    expect(fake.children).toHaveLength(5);
  });

  it('runs that outlast the quick-failure window never exhaust the restarts', async () => {
    const fake = fakeRunner();
    await using dnsmasq = await Dnsmasq.start({
      networks: testNetworks(1),
      stateDir,
      runner: fake.runner,
      restart: { maxQuickFailures: 1, initialDelayMs: 1, maxDelayMs: 1, quickFailureWindowMs: 0 },
    });
    const restarts: RestartEvent[] = [];
    dnsmasq.on('restart', (e) => restarts.push(e));
    for (let i = 1; i <= 3; i++) {
      fake.last().exit({ exitCode: 1, signal: undefined });
      await waitFor(() => dnsmasq.status().state === 'running' && dnsmasq.status().restarts === i, {
        what: `restart ${i}`,
      });
    }
    expect(restarts.map((r) => r.attempt)).toEqual([1, 1, 1]);
  });

  it('start fails with the output and config when dnsmasq exits at once, and leaves nothing running', async () => {
    const fake = fakeRunner({
      exitAtOnce: { exitCode: 1, signal: undefined, output: 'dnsmasq: bad option at line 3\n' },
    });
    const error = await Dnsmasq.start({
      networks: testNetworks(1),
      stateDir,
      runner: fake.runner,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsmasqStartError);
    expect((error as Error).message).toBe(
      'dnsmasq exited (exit code 1) before it was ready\ndnsmasq: bad option at line 3',
    );
    expect((error as Error).cause).toMatchObject({
      argv: [
        'dnsmasq',
        '--keep-in-foreground',
        '--log-facility=-',
        `--conf-file=${stateDir}/dnsmasq.conf`,
      ],
      exitCode: 1,
      stderr: 'dnsmasq: bad option at line 3\n',
      config: expect.stringContaining('interface=tntap0\n'),
    });
  });

  it('start times out and kills dnsmasq when DNS never answers', async () => {
    const fake = fakeRunner({ answers: false });
    const error = await Dnsmasq.start({
      networks: testNetworks(2),
      stateDir,
      runner: fake.runner,
      readyTimeoutMs: 150,
    }).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      'dnsmasq did not answer DNS on 10.64.0.1, 10.64.1.1 within 150 ms',
    );
    expect(fake.children[0]!.signals).toEqual(['SIGKILL']);
  });

  it('bad options throw before anything is started or written', async () => {
    const fake = fakeRunner();
    await expect(
      Dnsmasq.start({
        networks: testNetworks(1),
        stateDir,
        runner: fake.runner,
        metadataNames: ['a\nserver=1.1.1.1'],
      }),
    ).rejects.toBeInstanceOf(InvalidConfigError);
    expect(fake.children).toEqual([]);
    await expect(readFile(join(stateDir, 'dnsmasq.conf'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });

  it('reload restarts on the new config without a restart event; bad records change nothing', async () => {
    const fake = fakeRunner();
    await using dnsmasq = await Dnsmasq.start({
      networks: testNetworks(1),
      stateDir,
      runner: fake.runner,
    });
    const restarts: RestartEvent[] = [];
    dnsmasq.on('restart', (e) => restarts.push(e));
    const before = await readFile(dnsmasq.configPath, 'utf8');
    await expect(
      dnsmasq.reload({
        srvRecords: [{ service: 'x', protocol: 'tcp', target: 't', port: 70_000 }],
      }),
    ).rejects.toBeInstanceOf(InvalidConfigError);
    expect(await readFile(dnsmasq.configPath, 'utf8')).toBe(before);
    expect(fake.children).toHaveLength(1);
    await dnsmasq.reload({ srvRecords: [{ service: 'x', protocol: 'tcp', target: 't', port: 7 }] });
    expect(fake.children[0]!.signals).toEqual(['SIGTERM']);
    expect(fake.children).toHaveLength(2);
    expect(await readFile(dnsmasq.configPath, 'utf8')).toBe(`${before}srv-host=_x._tcp,t,7,0,0\n`);
    await dnsmasq.reload({ metadataNames: ['meta'] });
    expect(await readFile(dnsmasq.configPath, 'utf8')).toBe(
      `${before.replace('host-record=taskcluster,taskcluster.tapnet.internal,', 'host-record=meta,meta.tapnet.internal,')}srv-host=_x._tcp,t,7,0,0\n`,
    );
    expect(dnsmasq.status()).toEqual({ state: 'running', pid: fake.children[2]!.pid, restarts: 0 });
    expect(restarts).toEqual([]);
  });

  it('stop() during a backoff cancels the restart', async () => {
    const fake = fakeRunner();
    const dnsmasq = await Dnsmasq.start({
      networks: testNetworks(1),
      stateDir,
      runner: fake.runner,
      restart: { initialDelayMs: 60_000, maxDelayMs: 60_000 },
    });
    fake.last().exit({ exitCode: 1, signal: undefined });
    await waitFor(() => dnsmasq.status().state === 'restarting', { what: 'restarting' });
    await dnsmasq.stop();
    expect(dnsmasq.status()).toEqual({ state: 'stopped', restarts: 1 });
    expect(fake.children).toHaveLength(1);
  });

  it('follows the lease file: an earlier instance’s leases ignored, then lease, release and expire events', async () => {
    const now = Math.floor(Date.now() / 1000);
    const leasePath = join(stateDir, 'dnsmasq.leases');
    const line = (expiry: number, mac: string, ip: string) => `${expiry} ${mac} ${ip} * *\n`;
    // Left by an earlier dnsmasq on this folder: its VM is gone, so it is not this instance's.
    await writeFile(leasePath, line(now + 3600, '52:54:00:00:00:99', '10.64.0.99'));
    const fake = fakeRunner();
    await using dnsmasq = await Dnsmasq.start({
      networks: testNetworks(2),
      stateDir,
      runner: fake.runner,
    });
    expect(dnsmasq.leases()).toEqual([]);
    // dnsmasq hands out a lease on tn0.
    await writeFile(leasePath, line(now + 3600, '52:54:00:00:00:01', '10.64.0.5'));
    await waitFor(() => dnsmasq.leaseFor('tn0') !== undefined, {
      what: 'the lease on tn0',
      seen: () => JSON.stringify(dnsmasq.leases()),
    });
    const events: [string, Lease][] = [];
    for (const name of ['lease', 'release', 'expire'] as const)
      dnsmasq.on(name, (lease) => events.push([name, lease]));
    expect(dnsmasq.leaseFor('tn0')).toMatchObject({ mac: '52:54:00:00:00:01', ip: '10.64.0.5' });

    // What dnsmasq writes after a DHCPACK on tn1 (expiring in seconds) and a DHCPRELEASE on tn0.
    await writeFile(leasePath, line(now + 3, '52:54:00:00:00:02', '10.64.1.9'));
    await waitFor(() => events.length >= 2, {
      what: 'lease and release events',
      seen: () => JSON.stringify(events),
    });
    expect(events).toEqual([
      [
        'release',
        {
          network: 'tn0',
          mac: '52:54:00:00:00:01',
          ip: '10.64.0.5',
          expiresAt: new Date((now + 3600) * 1000),
        },
      ],
      [
        'lease',
        {
          network: 'tn1',
          mac: '52:54:00:00:00:02',
          ip: '10.64.1.9',
          expiresAt: new Date((now + 3) * 1000),
        },
      ],
    ]);
    expect(dnsmasq.leaseFor('tn0')).toBeUndefined();

    // dnsmasq need not rewrite the file when a lease runs out: the expiry timer reports it.
    await waitFor(() => events.length >= 3, {
      what: 'an expire event',
      timeout: 5000,
      seen: () => JSON.stringify(events),
    });
    expect(events[2]).toEqual([
      'expire',
      {
        network: 'tn1',
        mac: '52:54:00:00:00:02',
        ip: '10.64.1.9',
        expiresAt: new Date((now + 3) * 1000),
      },
    ]);
    expect(dnsmasq.leases()).toEqual([]);
  });
});

describe('forgetLeases (fake runner)', () => {
  let stateDir: string;
  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'tapnet-dhcp-forget-'));
  });
  afterEach(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  const networks = testNetworks(2);
  const expiry = Math.floor(Date.now() / 1000) + 3600;
  const FILE = [
    `${expiry} 02:00:00:00:00:01 10.64.0.2 * *`,
    `${expiry} 02:00:00:00:00:02 10.64.0.3 * 01:02:00:00:00:00:02`,
    `${expiry} 52:54:00:00:00:09 10.64.1.7 * *`,
    '',
  ].join('\n');
  const leaseFile = () => join(stateDir, 'dnsmasq.leases');

  /** A dnsmasq (fake) that has handed out FILE's leases: written as dnsmasq would, once started. */
  async function started(sendDhcp: Runner['sendDhcp']) {
    const fake = fakeRunner();
    const dnsmasq = await Dnsmasq.start({
      networks,
      stateDir,
      runner: { ...fake.runner, sendDhcp },
    });
    await writeFile(leaseFile(), FILE);
    await waitFor(() => dnsmasq.leases().length === 3, {
      what: 'the leases dnsmasq wrote',
      seen: () => JSON.stringify(dnsmasq.leases()),
    });
    return { fake, dnsmasq };
  }

  it('sends each lease its DHCPRELEASE from the gateway and returns once dnsmasq dropped them: no restart', async () => {
    const sent: { gateway: string; messages: Buffer[] }[] = [];
    // Plays dnsmasq: drops the lease whose address a release names.
    const { fake, dnsmasq } = await started(async (gateway, messages) => {
      sent.push({ gateway, messages: [...messages] });
      const ips = messages.map((m) => [...m.subarray(12, 16)].join('.'));
      const text = await readFile(leaseFile(), 'utf8');
      await writeFile(
        leaseFile(),
        text
          .split('\n')
          .filter((line) => !ips.includes(line.split(' ')[2] ?? ''))
          .join('\n'),
      );
    });
    try {
      expect(await dnsmasq.forgetLeases('tn0')).toEqual({
        released: 2,
        restarted: false,
        remaining: 0,
      });
      expect(fake.children).toHaveLength(1);
      expect(sent.map((s) => s.gateway)).toEqual(['10.64.0.1']);
      expect(sent[0]!.messages.map((m) => m[242])).toEqual([7, 7]); // DHCPRELEASE
      expect(await readFile(leaseFile(), 'utf8')).toContain('10.64.1.7');
      // Nothing left: nothing sent, nothing restarted.
      expect(await dnsmasq.forgetLeases('tn0')).toEqual({
        released: 0,
        restarted: false,
        remaining: 0,
      });
      expect(sent).toHaveLength(1);
    } finally {
      await dnsmasq.stop();
    }
  });

  it('falls back to one restart on a lease file without the network when releases do not take', async () => {
    const { fake, dnsmasq } = await started(async () => {});
    try {
      expect(await dnsmasq.forgetLeases('tn0', { restart: false })).toEqual({
        released: 0,
        restarted: false,
        remaining: 2,
      });
      expect(fake.children).toHaveLength(1);
      expect(await dnsmasq.forgetLeases('tn0')).toEqual({
        released: 0,
        restarted: true,
        remaining: 0,
      });
      expect(fake.children).toHaveLength(2);
      expect(fake.children[0]!.signals).toEqual(['SIGTERM']);
      const text = await readFile(leaseFile(), 'utf8');
      expect(text).not.toContain('10.64.0.');
      expect(text).toContain('10.64.1.7');
      expect(dnsmasq.status()).toMatchObject({ state: 'running', restarts: 0 });
    } finally {
      await dnsmasq.stop();
    }
  });

  it('refuses an unknown network and a stopped dnsmasq', async () => {
    const { dnsmasq } = await started(async () => {});
    await expect(dnsmasq.forgetLeases('tn9')).rejects.toMatchObject({
      code: 'ERR_UNKNOWN_NETWORK',
    });
    expect(await readFile(leaseFile(), 'utf8')).toBe(FILE); // the refusal changed nothing
    await dnsmasq.stop();
    await expect(dnsmasq.forgetLeases('tn0')).rejects.toMatchObject({ code: 'ERR_STOPPED' });
  });
});
