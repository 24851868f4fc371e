import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTapPeer, describeNetns, snapshotNamespace, waitFor } from '@tapnet/testing';
import { execa } from 'execa';
import { request } from 'undici';
import { expect, it, onTestFinished, vi } from 'vitest';
import { bin, startDaemon } from './test-daemon.js';

interface Net {
  name: string;
  subnet: string;
  gateway: string;
  mac: string;
}

// Each test starts pools (and daemons) of its own: generous on a loaded 2-core CI machine.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 180_000 });

describeNetns('tapnet serve: TCP with a token, a real Prometheus, stopping and crashing', () => {
  it('answers a waiting acquire 503 when it stops, and leaves nothing behind', async () => {
    const before = await snapshotNamespace();
    const daemon = await startDaemon(
      ['--size', '1', '--prefix', 'tz', '--uplink', 'none'],
      '/run/tapnet/stop.sock',
    );
    expect((await daemon.call('POST', '/v1/networks', {})).status).toBe(201);
    const waiter = daemon.call('POST', '/v1/networks', { wait: 60 });
    await waitFor(
      async () =>
        ((await daemon.call('GET', '/v1/status')).body as { waiting: number }).waiting === 1,
      {
        what: 'the acquire to wait',
      },
    );
    daemon.child.kill('SIGTERM');
    const answer = await waiter;
    expect(answer.status).toBe(503);
    expect(answer.body).toEqual(expect.objectContaining({ code: 'ERR_POOL_DISPOSED' }));
    await daemon.stop();
    expect(daemon.events().find((e) => e.event === 'release')).toEqual(
      expect.objectContaining({ reason: 'shutdown' }),
    );
    expect(await snapshotNamespace()).toEqual(before);
  });

  it('after a SIGKILL: status says no daemon answers, cleanup removes the pool, a new daemon takes the stale socket', async () => {
    const before = await snapshotNamespace();
    const socket = '/run/tapnet/crash.sock';
    const crashed = await startDaemon(
      ['--size', '1', '--prefix', 'tc', '--uplink', 'none'],
      socket,
    );
    crashed.child.kill('SIGKILL');
    await crashed.stop();
    const status = await execa(process.execPath, [bin, 'status', '--socket', socket], {
      reject: false,
    });
    expect(status.exitCode).toBe(0);
    expect(status.stderr).toContain(`no daemon answers on ${socket}`);
    expect(status.stdout).toMatch(/^tc\s+\?*\d*\s+stale/m);
    const cleanup = await execa(process.execPath, [bin, 'cleanup', '--prefix', 'tc', '--json'], {
      reject: false,
    });
    expect(JSON.parse(cleanup.stdout)[0].taps.removedDevices).toEqual(['tc0']);
    const next = await startDaemon(['--size', '1', '--prefix', 'tc', '--uplink', 'none'], socket);
    expect((await next.call('GET', '/v1/status')).status).toBe(200);
    await next.stop();
    expect(await snapshotNamespace()).toEqual(before);
  });

  it('serves the API on loopback TCP only with the bearer token, and refuses to start without one', async () => {
    const before = await snapshotNamespace();
    const dir = await mkdtemp(join(tmpdir(), 'tapnet-token-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const tokenFile = join(dir, 'token');
    const token = 'k'.repeat(40);
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });

    const refused = await execa(
      process.execPath,
      [bin, 'serve', '--size', '1', '--listen', '127.0.0.1:7701'],
      { reject: false },
    );
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/Expected --token-file with --listen/);
    const wide = await execa(
      process.execPath,
      [bin, 'serve', '--size', '1', '--listen', '0.0.0.0:7701', '--token-file', tokenFile],
      { reject: false },
    );
    expect(wide.exitCode).toBe(2);
    expect(wide.stderr).toMatch(/loopback/);
    await chmod(tokenFile, 0o644);
    const readable = await execa(
      process.execPath,
      [bin, 'serve', '--size', '1', '--listen', '127.0.0.1:7701', '--token-file', tokenFile],
      { reject: false },
    );
    expect(readable.stderr).toMatch(/readable by its owner only/);
    await chmod(tokenFile, 0o600);

    const daemon = await startDaemon(
      [
        '--size',
        '1',
        '--prefix',
        'tq',
        '--uplink',
        'none',
        '--listen',
        '127.0.0.1:7701',
        '--token-file',
        tokenFile,
      ],
      '/run/tapnet/tcp.sock',
    );
    try {
      const without = await request('http://127.0.0.1:7701/v1/networks', {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
      });
      expect(without.statusCode).toBe(401);
      expect(await without.body.json()).toEqual(
        expect.objectContaining({ code: 'ERR_UNAUTHORIZED' }),
      );
      const wrong = await request('http://127.0.0.1:7701/v1/status', {
        headers: { authorization: `Bearer ${'x'.repeat(40)}` },
      });
      expect(wrong.statusCode).toBe(401);
      await wrong.body.dump();
      expect(JSON.parse((await daemon.call('GET', '/v1/networks')).text)[0].inUse).toBe(false);
      const ok = await request('http://127.0.0.1:7701/v1/networks', {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      });
      expect(ok.statusCode).toBe(201);
      expect(((await ok.body.json()) as Net).name).toBe('tq0');
    } finally {
      await daemon.stop();
    }
    expect(await snapshotNamespace()).toEqual(before);
  });

  it('a real Prometheus scrapes the daemon and returns the series after a guest made requests', {
    timeout: 120_000,
  }, async (ctx) => {
    const found = await execa('prometheus', ['--version'], { reject: false });
    if (found.failed) ctx.skip('prometheus is not installed (Debian package prometheus)');
    const before = await snapshotNamespace();
    const daemon = await startDaemon(
      ['--size', '2', '--prefix', 'tp', '--uplink', 'none', '--metrics-address', '127.0.0.1:9464'],
      '/run/tapnet/prom.sock',
    );
    const dir = await mkdtemp(join(tmpdir(), 'tapnet-prometheus-'));
    const config = join(dir, 'prometheus.yml');
    await writeFile(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        'scrape_configs:',
        '  - job_name: tapnet',
        '    static_configs:',
        "      - targets: ['127.0.0.1:9464']",
        '',
      ].join('\n'),
    );
    const prometheus = execa(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        '--web.listen-address=127.0.0.1:9490',
      ],
      { reject: false, all: true },
    );
    let said = '';
    prometheus.all?.on('data', (c: Buffer) => {
      said += c.toString();
    });
    try {
      // The scrapers' listener serves /metrics and nothing else.
      const api = await request('http://127.0.0.1:9464/v1/networks', {
        method: 'POST',
        body: '{}',
      });
      expect(api.statusCode).toBe(404);
      await api.body.dump();

      const net = (
        await daemon.call('POST', '/v1/networks', { handler: { '*': { '/hello': 'hi' } } })
      ).body as Net;
      await using peer = await createTapPeer({
        tap: net.name,
        subnet: net.subnet,
        gateway: net.gateway,
        mac: net.mac,
      });
      for (let i = 0; i < 3; i++) expect((await peer.get('/hello')).status).toBe(200);
      expect((await peer.get('/missing')).status).toBe(404);

      const query = async (q: string) => {
        const res = await request(
          `http://127.0.0.1:9490/api/v1/query?query=${encodeURIComponent(q)}`,
        );
        const body = (await res.body.json()) as {
          data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
        };
        return body.data?.result ?? [];
      };
      const series = await waitFor(
        async () => {
          const result = await query('tapnet_metadata_requests_total');
          const ok = result.find((r) => r.metric.network === net.name && r.metric.status === '200');
          return ok && Number(ok.value[1]) >= 3 ? result : undefined;
        },
        {
          what: 'Prometheus to have scraped the request counts',
          timeout: 60_000,
          interval: 500,
          seen: () => said.slice(-2000),
        },
      );
      expect(series.map((r) => [r.metric.job, r.metric.network, r.metric.status])).toEqual(
        expect.arrayContaining([
          ['tapnet', net.name, '200'],
          ['tapnet', net.name, '404'],
        ]),
      );
      expect((await query('tapnet_firewall_intact'))[0]?.value[1]).toBe('1');
      expect((await query('up{job="tapnet"}'))[0]?.value[1]).toBe('1');
    } finally {
      prometheus.kill('SIGTERM');
      await prometheus;
      await rm(dir, { recursive: true, force: true });
      await daemon.stop();
    }
    expect(await snapshotNamespace()).toEqual(before);
  });
});
