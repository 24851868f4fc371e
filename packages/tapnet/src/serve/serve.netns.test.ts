import { readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { createTapPeer, describeNetns, snapshotNamespace, waitFor } from '@tapnet/testing';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { ROUTES } from './routes.js';
import { type Answer, bin, type Daemon, startDaemon } from './test-daemon.js';

interface Net {
  name: string;
  id: string;
  subnet: string;
  gateway: string;
  mac: string;
  inUse: boolean;
  qemuArgs: string[];
  holder: { pid?: number; ttl?: number; expiresAt?: string };
  metadata?: { requests: Record<string, number> };
  limits: Record<string, unknown>;
}

const json = (a: Answer) => a.body as Net;

// Each test starts pools (and daemons) of its own: generous on a loaded 2-core CI machine.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 180_000 });

describeNetns('tapnet serve: the control API', () => {
  let daemon: Daemon;
  let before: Awaited<ReturnType<typeof snapshotNamespace>>;

  beforeAll(async () => {
    before = await snapshotNamespace();
    daemon = await startDaemon(
      ['--size', '2', '--prefix', 'ta', '--uplink', 'none', '--group', 'daemon'],
      '/run/tapnet/api.sock',
    );
  }, 180_000);

  afterAll(async () => {
    await daemon?.stop();
    expect(daemon.events().at(-1)).toEqual(
      expect.objectContaining({ event: 'stopped', prefix: 'ta' }),
    );
    expect(await snapshotNamespace()).toEqual(before);
  }, 180_000);

  it('listens on a socket of mode 0660 in the chosen group', () => {
    const info = statSync(daemon.socket);
    expect(info.isSocket()).toBe(true);
    expect(info.mode & 0o777).toBe(0o660);
    const daemonGid = Number(/^daemon:x:(\d+):/m.exec(readFileSync('/etc/group', 'utf8'))?.[1]);
    expect(info.gid).toBe(daemonGid);
    // Its folder lets the group reach the socket by name, and nothing more.
    expect(statSync('/run/tapnet').mode & 0o010).toBe(0o010);
  });

  it('acquires a network whose VM is served by the handler given, then releases it idempotently', async () => {
    const acquired = await daemon.call('POST', '/v1/networks', {
      handler: { '*': { '/secret': { for: 'this VM' } } },
    });
    expect(acquired.status).toBe(201);
    const net = json(acquired);
    expect(net).toEqual(
      expect.objectContaining({
        name: 'ta0',
        inUse: true,
        subnet: '10.231.0.0/24',
        qemuArgs: [
          '-netdev',
          'tap,id=net0,ifname=ta0,script=no,downscript=no',
          '-device',
          expect.stringContaining(`mac=${net.mac}`),
        ],
      }),
    );
    // The events stream sees what follows.
    const stream = await openEvents(daemon.socket);
    await using peer = await createTapPeer({
      tap: net.name,
      subnet: net.subnet,
      gateway: net.gateway,
      mac: net.mac,
    });
    const reply = await peer.get('/secret');
    expect(reply).toEqual({ status: 200, body: '{"for":"this VM"}' });
    const got = json(await daemon.call('GET', '/v1/networks/ta0'));
    expect(got.metadata?.requests['2xx']).toBe(1);

    // The handler changes while the network is held; null leaves the VM without answers.
    const put = await daemon.call('PUT', '/v1/networks/ta0/handler', {
      handler: { ta0: { '/secret': 'rotated' } },
    });
    expect(put.status).toBe(200);
    expect((await peer.get('/secret')).body).toBe('rotated');
    await daemon.call('PUT', '/v1/networks/ta0/handler', { handler: null });
    expect((await peer.get('/secret')).status).toBe(404);

    expect((await daemon.call('DELETE', `/v1/networks/ta0?id=${net.id}`)).body).toEqual({
      name: 'ta0',
      released: true,
    });
    expect((await daemon.call('DELETE', '/v1/networks/ta0')).body).toEqual({
      name: 'ta0',
      released: false,
    });
    expect(json(await daemon.call('GET', '/v1/networks/ta0')).inUse).toBe(false);
    // Released: the VM is cut off from the metadata it had.
    expect((await peer.get('/secret')).status).not.toBe(200);
    await waitFor(() => stream.lines().some((l) => l.event === 'release'), {
      what: 'the release event',
      seen: () => JSON.stringify(stream.lines()),
    });
    expect(stream.lines().map((l) => l.event)).toEqual(
      expect.arrayContaining(['metadata-request', 'handler', 'release']),
    );
    expect(stream.lines().find((l) => l.event === 'metadata-request')).toEqual(
      expect.objectContaining({ network: 'ta0', url: '/secret', status: 200 }),
    );
    stream.close();
  });

  it('acquires with per-VM traffic limits in force, and refuses bad limits without taking a network', async () => {
    const bad = await daemon.call('POST', '/v1/networks', { limits: { egress: '100 mbit' } });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'limits.egress' }),
    );
    expect(((await daemon.call('GET', '/v1/status')).body as { inUse: number }).inUse).toBe(0);

    const acquired = await daemon.call('POST', '/v1/networks', {
      limits: { ingress: '8mbit', packetsPerSecond: 500 },
    });
    expect(acquired.status).toBe(201);
    const net = json(acquired);
    expect(net.limits).toEqual(
      expect.objectContaining({ ingress: expect.objectContaining({ rate: 8_000_000 }) }),
    );
    // In force on the TAP: the VM's ingress is the TAP's egress, shaped by its root qdisc.
    const { stdout } = await execa('tc', ['qdisc', 'show', 'dev', net.name]);
    expect(stdout).toMatch(/tbf .*rate 8Mbit/);
    await daemon.call('DELETE', `/v1/networks/${net.name}?id=${net.id}`);
    // Released: the next holder starts with the pool's default (none here), and the network is
    // free again once that is done (the tests below count on both networks).
    await waitFor(
      async () =>
        ((await daemon.call('GET', '/v1/status')).body as { available: number }).available === 2,
      { what: 'the network free again' },
    );
    expect((await execa('tc', ['qdisc', 'show', 'dev', net.name])).stdout).not.toMatch(/tbf/);
  });

  it('answers 409 when all networks are in use, and hands a waiter the next one released', async () => {
    const a = json(await daemon.call('POST', '/v1/networks', {}));
    const b = json(await daemon.call('POST', '/v1/networks', {}));
    const full = await daemon.call('POST', '/v1/networks', {});
    expect(full.status).toBe(409);
    expect(full.body).toEqual(expect.objectContaining({ code: 'ERR_ALL_NETWORKS_IN_USE' }));
    const waiting = daemon.call('POST', '/v1/networks', { wait: 60 });
    await waitFor(
      async () =>
        ((await daemon.call('GET', '/v1/status')).body as { waiting: number }).waiting === 1,
      {
        what: 'the acquire to wait',
      },
    );
    await daemon.call('DELETE', `/v1/networks/${b.name}`);
    const next = await waiting;
    expect(next.status).toBe(201);
    expect(json(next).name).toBe(b.name);
    for (const n of [a.name, b.name]) await daemon.call('DELETE', `/v1/networks/${n}`);
  });

  it('gives a waiter’s place up when its client hangs up', async () => {
    const a = json(await daemon.call('POST', '/v1/networks', {}));
    const b = json(await daemon.call('POST', '/v1/networks', {}));
    const socket = connect(daemon.socket);
    const body = '{"wait":60}';
    socket.write(
      `POST /v1/networks HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    );
    const waiting = async () =>
      ((await daemon.call('GET', '/v1/status')).body as { waiting: number }).waiting;
    await waitFor(async () => (await waiting()) === 1, { what: 'the acquire to wait' });
    socket.destroy();
    await waitFor(async () => (await waiting()) === 0, { what: 'the waiter to be dropped' });
    // The next release goes to no one: the network is free, not held by a client that left.
    await daemon.call('DELETE', `/v1/networks/${a.name}`);
    expect(json(await daemon.call('GET', `/v1/networks/${a.name}`)).inUse).toBe(false);
    await daemon.call('DELETE', `/v1/networks/${b.name}`);
  });

  it('releases the network of a holder process that exits, and says so', async () => {
    const holder = execa('sleep', ['600'], { reject: false });
    const net = json(await daemon.call('POST', '/v1/networks', { holder: { pid: holder.pid } }));
    expect(net.holder).toEqual({ pid: holder.pid });
    // Another network, held by a live process meanwhile, stays held.
    const other = execa('sleep', ['600'], { reject: false });
    const kept = json(await daemon.call('POST', '/v1/networks', { holder: { pid: other.pid } }));
    holder.kill('SIGKILL');
    await holder;
    await waitFor(() => daemon.events().some((e) => e.event === 'release' && e.id === net.id), {
      what: `${net.name} to be released after its holder died`,
      seen: daemon.log,
    });
    expect(daemon.events().find((e) => e.event === 'release' && e.id === net.id)).toEqual(
      expect.objectContaining({ reason: 'holder-exited', pid: holder.pid }),
    );
    expect(json(await daemon.call('GET', `/v1/networks/${net.name}`)).inUse).toBe(false);
    expect(json(await daemon.call('GET', `/v1/networks/${kept.name}`)).inUse).toBe(true);
    other.kill('SIGKILL');
    await other;
    await waitFor(async () => !json(await daemon.call('GET', `/v1/networks/${kept.name}`)).inUse, {
      what: 'the second holder’s network to be released',
    });
    // A pid that names no process is refused before a network is taken.
    const gone = await daemon.call('POST', '/v1/networks', { holder: { pid: holder.pid } });
    expect(gone.status).toBe(400);
    expect(gone.body).toEqual(
      expect.objectContaining({ code: 'ERR_HOLDER_GONE', option: 'holder.pid' }),
    );
  });

  it('releases a network whose TTL passes without renewal; a renewal moves the deadline', async () => {
    const net = json(await daemon.call('POST', '/v1/networks', { holder: { ttl: 600 } }));
    const renewed = json(await daemon.call('POST', `/v1/networks/${net.name}/renew`, { ttl: 1 }));
    expect(Date.parse(renewed.holder.expiresAt!)).toBeLessThan(Date.parse(net.holder.expiresAt!));
    await waitFor(() => daemon.events().some((e) => e.event === 'release' && e.id === net.id), {
      what: 'the TTL to expire',
      seen: daemon.log,
    });
    expect(daemon.events().find((e) => e.event === 'release' && e.id === net.id)).toEqual(
      expect.objectContaining({ reason: 'ttl-expired' }),
    );
    const late = await daemon.call('POST', `/v1/networks/${net.name}/renew`, {});
    expect(late.status).toBe(409);
    expect(late.body).toEqual(expect.objectContaining({ code: 'ERR_NOT_HELD' }));
  });

  it.each([
    ['invalid JSON', 'POST', '/v1/networks', '{"wait":', 400, 'ERR_BAD_JSON'],
    ['an unknown field', 'POST', '/v1/networks', { wiat: 5 }, 400, 'ERR_UNKNOWN_FIELD'],
    [
      'a path handler (no --handler-root)',
      'POST',
      '/v1/networks',
      { handler: '/etc' },
      400,
      'ERR_PATH_REFUSED',
    ],
    [
      'a body over 64 KiB',
      'POST',
      '/v1/networks',
      { handler: { '*': { '/x': 'y'.repeat(70_000) } } },
      413,
      'ERR_BODY_TOO_LARGE',
    ],
    ['an unknown network', 'GET', '/v1/networks/zz9', undefined, 404, 'ERR_UNKNOWN_NETWORK'],
    [
      'a name that is no name',
      'DELETE',
      '/v1/networks/..%2f..%2fetc',
      undefined,
      404,
      'ERR_UNKNOWN_NETWORK',
    ],
    ['an unknown path', 'GET', '/v1/nothing', undefined, 404, 'ERR_NOT_FOUND'],
    ['a wrong method', 'PATCH', '/v1/networks', undefined, 405, 'ERR_METHOD'],
    [
      'a free network’s handler',
      'PUT',
      '/v1/networks/ta1/handler',
      { handler: null },
      409,
      'ERR_NOT_HELD',
    ],
  ] as const)(
    'refuses %s with a JSON error, changing nothing',
    async (_what, method, path, body, status, code) => {
      const held = async () =>
        ((await daemon.call('GET', '/v1/networks')).body as Net[]).filter((n) => n.inUse);
      const heldBefore = await held();
      const answer = await daemon.call(method, path, body);
      expect(answer.status).toBe(status);
      expect(answer.body).toEqual(expect.objectContaining({ code, message: expect.any(String) }));
      expect(await held()).toEqual(heldBefore);
    },
  );

  it('survives garbage on the socket and a client that hangs up mid-request, and serves the next client', async () => {
    for (const garbage of [
      '\x00\x01\x02 not http\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
      'POST /v1/networks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"wa',
    ]) {
      const answer = await new Promise<string>((resolve) => {
        const socket = connect(daemon.socket);
        let got = '';
        socket.on('data', (c) => {
          got += c.toString();
        });
        socket.on('close', () => resolve(got));
        socket.on('error', () => resolve(got));
        socket.write(garbage);
        // The last one never finishes its body: the client goes away instead.
        if (garbage.includes('{"wa')) setImmediate(() => socket.destroy());
      });
      if (!garbage.includes('{"wa')) expect(answer).toMatch(/^HTTP\/1\.1 400/);
    }
    const ok = await daemon.call('POST', '/v1/networks', {});
    expect(ok.status).toBe(201);
    await daemon.call('DELETE', `/v1/networks/${json(ok).name}`);
    expect(daemon.child.exitCode).toBeNull();
  });

  it('serves its OpenAPI document and Prometheus metrics that promtool accepts', async (ctx) => {
    const doc = (await daemon.call('GET', '/v1/openapi.json')).body as {
      openapi: string;
      paths: object;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/v1/networks/{name}/handler');
    const metrics = await daemon.call('GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(
      /^tapnet_metadata_requests_total\{network="ta0",status="200"\} [1-9]/m,
    );
    expect(metrics.text).toMatch(/^tapnet_firewall_intact 1$/m);
    expect(metrics.text).toMatch(/^tapnet_networks\{state="available"\} [0-2]$/m);
    expect(metrics.text).toMatch(
      /^tapnet_metadata_request_duration_seconds_count\{network="ta0"\} [1-9]/m,
    );
    // dnsmasq's DNS counters are in the exposition promtool checks.
    expect(metrics.text).toMatch(/^tapnet_dns_queries_total\{answer="local"\} \d+$/m);
    const promtool = await execa('promtool', ['check', 'metrics'], {
      input: metrics.text,
      reject: false,
    });
    if (promtool.failed && (promtool as { code?: string }).code === 'ENOENT')
      ctx.skip('promtool is not installed (Debian package prometheus)');
    expect(promtool.stdout + promtool.stderr).toBe('');
    expect(promtool.exitCode).toBe(0);
  });

  it('walks every route of the server: each answer’s status is one the document gives that operation', async () => {
    const doc = (await daemon.call('GET', '/v1/openapi.json')).body as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    const held = json(await daemon.call('POST', '/v1/networks', { holder: { ttl: 600 } }));
    const bodies: Record<string, unknown> = {
      acquireNetwork: {},
      setHandler: { handler: null },
      renewNetwork: {},
    };
    const seen: string[] = [];
    // The release goes last, so the routes before it find the network held.
    const last = (operation: string) => Number(operation === 'releaseNetwork');
    for (const route of [...ROUTES].sort((a, b) => last(a.operation) - last(b.operation))) {
      if (route.operation === 'streamEvents') continue; // a stream: opened and read above
      const path = route.path.replace('{name}', held.name);
      const answer = await daemon.call(route.method, path, bodies[route.operation]);
      const documented = Object.keys(
        doc.paths[route.path]?.[route.method.toLowerCase()]?.responses ?? {},
      );
      expect(documented, `${route.method} ${route.path}`).toContain(String(answer.status));
      if (answer.status === 201) await daemon.call('DELETE', `/v1/networks/${json(answer).name}`);
      seen.push(`${route.operation} ${answer.status}`);
    }
    expect(seen).toEqual([
      'acquireNetwork 201',
      'listNetworks 200',
      'getNetwork 200',
      'setHandler 200',
      'renewNetwork 200',
      'getStatus 200',
      'getOpenApi 200',
      'getMetrics 200',
      'releaseNetwork 200',
    ]);
  });

  it('the CLI shows the daemon: status, net list, net acquire, net release', async () => {
    const cli = (args: string[]) => execa(process.execPath, [bin, ...args], { reject: false });
    const acquired = await cli(['net', 'acquire', '--json', '--ttl', '600']);
    expect(acquired.exitCode, acquired.stderr).toBe(0);
    const net = JSON.parse(acquired.stdout) as Net;
    expect(net.holder.ttl).toBe(600);
    const status = await cli(['status']);
    expect(status.stdout).toMatch(
      /tapnet serve .* on \/run\/tapnet\/api\.sock: pool ta, 1\/2 in use, firewall \w+ intact/,
    );
    expect(status.stdout).toMatch(
      new RegExp(`${net.name}\\s+10\\.231\\.\\d\\.0/24\\s+in use\\s+ttl `),
    );
    const list = JSON.parse((await cli(['net', 'list', '--json'])).stdout) as Net[];
    expect(list.map((n) => [n.name, n.inUse])).toEqual([
      ['ta0', net.name === 'ta0'],
      ['ta1', net.name === 'ta1'],
    ]);
    expect((await cli(['net', 'release', net.name])).stdout.trim()).toBe(`released ${net.name}`);
    expect((await cli(['net', 'release', net.name])).stdout.trim()).toBe(
      `${net.name} was not in use`,
    );
    const unknown = await cli(['net', 'release', 'zz0', '--json']);
    expect(unknown.exitCode).toBe(1);
    expect(JSON.parse(unknown.stderr).error.code).toBe('ERR_UNKNOWN_NETWORK');
  });
});

/** `GET /v1/events` read line by line. */
async function openEvents(socket: string) {
  const lines: { event: string; [k: string]: unknown }[] = [];
  const s = connect(socket);
  let buffer = '';
  let head = true;
  s.on('data', (chunk) => {
    buffer += chunk.toString();
    if (head) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      buffer = buffer.slice(end + 4);
      head = false;
    }
    // Chunked encoding: size lines are hex, event lines are JSON.
    for (let i = buffer.indexOf('\n'); i !== -1; i = buffer.indexOf('\n')) {
      const line = buffer.slice(0, i).trim();
      buffer = buffer.slice(i + 1);
      if (line.startsWith('{')) lines.push(JSON.parse(line));
    }
  });
  s.write('GET /v1/events HTTP/1.1\r\nHost: tapnet\r\n\r\n');
  await waitFor(() => !head, { what: 'the event stream to start' });
  return { lines: () => lines, close: () => s.destroy() };
}
