import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer, get as httpGet } from 'node:http';
import type { HandlerContext } from '@tapnet/metadata-proxy';
import { AllNetworksInUseError } from '@tapnet/tap-pool';
import { createTapPeer, describeNetns, run, runOk, snapshotNamespace } from '@tapnet/testing';
import { request } from 'undici';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { InvalidOptionError, PoolDisposedError, ReleasedError, TapnetError } from './errors.js';
import type { Network } from './network.js';
import { Pool } from './pool.js';

/** A GET from a host process bound to `localAddress`. */
function get(localAddress: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: '169.254.169.254', path, localAddress, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

// Mirrors the original's pool test, twice in one namespace (a second pool must start cleanly
// where the first was disposed), then rollback of each stage.
describeNetns('Pool (the original contract)', () => {
  let before: Awaited<ReturnType<typeof snapshotNamespace>>;
  beforeEach(async () => {
    before = await snapshotNamespace();
  });
  afterEach(async () => {
    expect(await snapshotNamespace()).toEqual(before);
  });

  for (const round of [1, 2]) {
    it(`hands out 3 networks, refuses a 4th, answers the host with 403, re-acquires, disposes (round ${round})`, async () => {
      const pool = await Pool.create({ size: 3, stateDir: '/run/tapnet' });
      try {
        const networks = [pool.network(), pool.network(), pool.network()];
        expect(new Set(networks.map((n) => n.name)).size).toBe(3);
        expect(networks.map((n) => n.netdev('net0'))).toEqual(
          networks.map((n) => `tap,id=net0,ifname=${n.name},script=no,downscript=no`),
        );
        let fourth: unknown;
        try {
          pool.network();
        } catch (error) {
          fourth = error;
        }
        expect(fourth).toBeInstanceOf(AllNetworksInUseError);
        expect((fourth as { code: string }).code).toBe('ERR_ALL_NETWORKS_IN_USE');

        // The host itself is no VM: the metadata service refuses it.
        const response = await request('http://169.254.169.254/');
        expect(response.statusCode).toBe(403);
        await response.body.dump();

        // Devices exist as planned.
        const links = await runOk(['ip', '-o', 'link', 'show']);
        for (const n of networks) expect(links).toContain(`${n.name}:`);

        const [first] = networks;
        first!.release();
        first!.release(); // idempotent
        expect(() => first!.setHandler(() => new Response('late'))).toThrow(ReleasedError);
        expect(() => first!.netdev('net0')).toThrow(
          `Network ${first!.name} has been released and cannot be used any more`,
        );
        const again = pool.network();
        expect(again.name).toBe(first!.name);
        expect(again.released).toBe(false);
        // The old handle is stale now: its error says the network is someone else's, and it
        // cannot touch the new holder's network (a late release is a no-op).
        expect(() => first!.setHandler(() => new Response('late'))).toThrow(
          `Network ${first!.name}: this handle was released; ${first!.name} now belongs to another holder`,
        );
        first!.release();
        expect(again.released).toBe(false);
        expect(again.netdev('net0')).toContain(`ifname=${first!.name}`);

        const status = await pool.status();
        expect(status.inUse).toBe(3);
        expect(status.uplink).toBeNull(); // the sandbox has no default route
        expect(status.forwarding).toBe(false);
        // One truth: with no uplink and no `allow` entry the pool forwards nothing, so it leaves
        // ip_forward off (as a fresh namespace has it) and both fields say so.
        expect(status.firewall.forwarding).toBe(false);
        expect(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim()).toBe('0');
        expect(status.firewall.present).toBe(true);
        expect(status.dnsmasq.state).toBe('running');
      } finally {
        await pool.dispose();
        await pool.dispose(); // idempotent
      }
      expect(() => pool.network()).toThrow(TapnetError);
    });
  }

  it('gives each network its MAC and QEMU arguments', async () => {
    await using pool = await Pool.create({ size: 2 });
    const a = pool.network();
    const b = pool.network();
    expect(a.mac).not.toBe(b.mac);
    expect(a.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(a.qemuArgs('n0', { model: 'e1000' })).toEqual([
      '-netdev',
      `tap,id=n0,ifname=${a.name},script=no,downscript=no`,
      '-device',
      expect.stringMatching(
        new RegExp(`^e1000,.*netdev=n0.*mac=${a.mac}|^e1000,.*mac=${a.mac}.*netdev=n0`),
      ),
    ]);
  });

  it('answers each network only with its own handler, and a re-issued network only with the new one', async () => {
    await using pool = await Pool.create({ size: 3 });
    const [a, b, c] = [pool.network(), pool.network(), pool.network()];
    // Each VM is a namespace on its network's TAP (joined by QEMU, as a guest's NIC would be).
    const peer = (n: Network) =>
      createTapPeer({ tap: n.name, subnet: n.subnet, gateway: n.gateway, mac: n.mac });
    await using vmA = await peer(a!);
    await using vmB = await peer(b!);
    await using vmC = await peer(c!);
    a!.setHandler(
      (_request: Request, ctx: HandlerContext) =>
        new Response(`a via ${ctx.network} from ${ctx.remoteAddress}`),
    );
    b!.setHandler((_request: Request, ctx: HandlerContext) => new Response(`b via ${ctx.network}`));
    expect(await vmA.get()).toEqual({
      status: 200,
      body: `a via ${a!.name} from ${vmA.address}`,
    });
    expect(await vmB.get()).toEqual({ status: 200, body: `b via ${b!.name}` });
    expect((await vmC.get()).status).toBe(404); // registered, no handler yet

    // A host process binding a network's gateway address has a source inside that subnet,
    // but it is no VM: the firewall refuses it before the metadata service could take it for
    // one (it dispatches by source address).
    for (const gateway of [a!.gateway, b!.gateway]) {
      const refused = await get(gateway).then(
        (reply) => new Error(`served: ${JSON.stringify(reply)}`),
        (error: Error) => error,
      );
      expect((refused as { code?: string }).code, String(refused)).toBe('ECONNREFUSED');
    }

    a!.release();
    expect((await vmA.get()).status).toBe(404); // the old VM's handler is gone
    const next = pool.network();
    expect(next.name).toBe(a!.name);
    next.setHandler(() => new Response('new tenant'));
    expect(await vmA.get()).toEqual({ status: 200, body: 'new tenant' });
    expect(await vmB.get()).toEqual({ status: 200, body: `b via ${b!.name}` });
  });

  it('acquire() waits for a release, FIFO, and dispose() rejects whoever still waits', async () => {
    const pool = await Pool.create({ size: 1 });
    const held = pool.network();
    const first = pool.acquire();
    const second = pool.acquire();
    held.release();
    const next = await first;
    expect(next.name).toBe(held.name);
    const refused = expect(second).rejects.toMatchObject({ code: 'ERR_POOL_DISPOSED' });
    await pool.dispose();
    await refused;
    expect(next.released).toBe(true);
    await expect(pool.status()).rejects.toBeInstanceOf(PoolDisposedError);
    await expect(pool.status()).rejects.toMatchObject({ code: 'ERR_POOL_DISPOSED' });
  });

  it('turns ip_forward on for `allow` entries without an uplink, and says so in both fields', async () => {
    const ipForward = () => readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
    expect(ipForward()).toBe('0');
    const pool = await Pool.create({ size: 1, allow: [{ cidr: '192.0.2.0/24' }] });
    try {
      const status = await pool.status();
      expect(status.uplink).toBeNull();
      expect(ipForward()).toBe('1');
      expect(status.forwarding).toBe(true);
      expect(status.firewall.forwarding).toBe(true);
    } finally {
      await pool.dispose();
    }
    expect(ipForward()).toBe('0');
  });

  it('rejects bad options before changing anything', async () => {
    await expect(Pool.create({ size: 0 })).rejects.toThrow(InvalidOptionError);
    await expect(Pool.create({ size: 0 })).rejects.toThrow(
      /Expected `size` to be an integer from 1 to 4096, got `0` \(number\)/,
    );
    await expect(Pool.create({ size: 2, count: 2 } as never)).rejects.toThrow(
      /did you mean `size`/,
    );
    await expect(Pool.create({ size: 2, firewall: 'pf' as never })).rejects.toThrow(/firewall/);
    await expect(
      Pool.create({ size: 2, hostRecords: [{ names: ['ok\nserver=1.2.3.4'], ipv4: '10.0.0.1' }] }),
    ).rejects.toMatchObject({
      // Issue 12: the facade's own error, naming its option; dhcp-dns's error is the cause.
      code: 'ERR_INVALID_OPTION',
      option: 'hostRecords[0].names[0]',
      cause: { code: 'ERR_INVALID_CONFIG' },
    });
  });

  it('names every refused option by its facade path, the package error as cause, changing nothing', async () => {
    for (const [options, option] of [
      [{ upstreamDns: ['dns.example'] }, 'upstreamDns[0]'],
      [{ metadataHardening: { tokens: 'yes' as never } }, 'metadataHardening.tokens'],
      [{ dnsmasqRestart: { maxDelayMs: -1 } }, 'dnsmasqRestart.maxDelayMs'],
      [{ allow: [{ cidr: 'nope' }] }, 'allow[0].cidr'],
      [{ subnet: '10.0.0.0' }, 'subnet'],
    ] as const) {
      const error = await Pool.create({ size: 2, ...options }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error).toBeInstanceOf(TapnetError);
      expect(error).toMatchObject({ code: 'ERR_INVALID_OPTION', option });
      expect((error as Error).cause).toBeInstanceOf(Error);
    }
  });

  // Issue 16's leftover: only the CLI refused an uplink that is no device here; the library
  // compiled it into NAT rules that match nothing.
  it('refuses an uplink that names no device here, before anything changes', async () => {
    const error = await Pool.create({ size: 1, uplink: 'eth9' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TapnetError);
    expect(error).toMatchObject({
      code: 'ERR_UPLINK_NOT_FOUND',
      uplink: 'eth9',
      message:
        'Expected `uplink` to name a network device here, got `eth9` (no such device); `null` for no uplink',
    });
    // A device that exists is taken.
    // No dummy driver on every kernel: a veth pair (deleting one end removes both).
    await runOk(['ip', 'link', 'add', 'eth9', 'type', 'veth', 'peer', 'name', 'eth9p']);
    try {
      await using pool = await Pool.create({ size: 1, uplink: 'eth9' });
      expect((await pool.status()).uplink).toBe('eth9');
    } finally {
      await runOk(['ip', 'link', 'del', 'eth9']);
    }
  });

  it("re-emits a metadata handler's failure with its network's name", async () => {
    await using pool = await Pool.create({ size: 2 });
    const [a, b] = [pool.network(), pool.network()];
    const errors: Error[] = [];
    pool.on('error', (error) => errors.push(error));
    await using vmA = await createTapPeer({
      tap: a!.name,
      subnet: a!.subnet,
      gateway: a!.gateway,
      mac: a!.mac,
    });
    await using vmB = await createTapPeer({
      tap: b!.name,
      subnet: b!.subnet,
      gateway: b!.gateway,
      mac: b!.mac,
    });
    a!.setHandler(() => {
      throw new Error('handler broke');
    });
    b!.setHandler(() => new Response('fine'));
    expect((await vmA.get()).status).toBe(500);
    // The well-behaved network is served meanwhile.
    expect(await vmB.get()).toEqual({ status: 200, body: 'fine' });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(TapnetError);
    expect(errors[0]).toMatchObject({ code: 'ERR_METADATA_HANDLER', network: a!.name });
    expect(errors[0]!.message).toContain(a!.name);
    expect(errors[0]!.message).toContain('handler broke');
  });
});

describeNetns('Pool.create rolls back a failed stage', () => {
  let before: Awaited<ReturnType<typeof snapshotNamespace>>;
  beforeEach(async () => {
    before = await snapshotNamespace();
  });

  it('a foreign device with our name: refused, survives, nothing else made', async () => {
    await runOk(['ip', 'link', 'add', 'tn1', 'type', 'bridge']);
    const withDummy = await snapshotNamespace();
    await expect(Pool.create({ size: 3 })).rejects.toMatchObject({
      code: expect.stringMatching(/ERR_DEVICE_EXISTS|ERR_PLAN_CONFLICT/),
    });
    expect(await snapshotNamespace()).toEqual(withDummy);
    await runOk(['ip', 'link', 'del', 'tn1']);
    expect(await snapshotNamespace()).toEqual(before);
  });

  it('dnsmasq cannot start (DHCP port taken): taps and firewall are undone', async () => {
    const blocker = createSocket('udp4');
    await new Promise<void>((resolve) => blocker.bind(67, '0.0.0.0', resolve));
    try {
      const error = await Pool.create({ size: 2 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ERR_DNSMASQ_START' });
      expect(
        String(
          (error as Error).message + JSON.stringify((error as { cause?: unknown }).cause ?? ''),
        ),
      ).toMatch(/67|address in use|bind/i);
    } finally {
      blocker.close();
    }
    expect(await snapshotNamespace()).toEqual(before);
  });

  it('the metadata port is taken: dnsmasq, firewall and taps are undone', async () => {
    await runOk(['ip', 'addr', 'add', '169.254.169.254/32', 'dev', 'lo']);
    const occupied = await snapshotNamespace();
    const server = createServer((_req, res) => res.end('not tapnet'));
    await new Promise<void>((resolve) => server.listen(80, '169.254.169.254', resolve));
    try {
      await expect(Pool.create({ size: 2 })).rejects.toMatchObject({ code: 'ERR_LISTEN' });
      expect(await snapshotNamespace()).toEqual(occupied); // our lo address is not the pool's to remove
    } finally {
      server.close();
    }
    await run(['ip', 'addr', 'del', '169.254.169.254/32', 'dev', 'lo']);
    expect(await snapshotNamespace()).toEqual(before);
  });
});
