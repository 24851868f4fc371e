import { createSocket } from 'node:dgram';
import { askLlmnr, createTapPeer, describeNetns, run, snapshotNamespace } from '@tapnet/testing';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Pool } from './pool.js';

// LLMNR through the whole facade: real TAPs, the firewall, the responder, VM stand-ins joined
// to the TAPs by QEMU (so queries arrive exactly as a guest's would).
describeNetns('Pool answers LLMNR on each TAP for its own guest', () => {
  let before: Awaited<ReturnType<typeof snapshotNamespace>>;
  beforeEach(async () => {
    before = await snapshotNamespace();
  });
  afterEach(async () => {
    expect(await snapshotNamespace()).toEqual(before);
  });

  it('by default: A’s query is answered by A’s gateway; B cannot reach A’s responder address, B is served', async () => {
    const pool = await Pool.create({
      size: 2,
      hostRecords: [{ names: ['artifacts'], ipv4: '203.0.113.10' }],
      upstreamDns: [],
    });
    const [a, b] = [pool.network(), pool.network()];
    const peers = await Promise.all(
      [a, b].map((n) =>
        createTapPeer({ tap: n.name, subnet: n.subnet, gateway: n.gateway, mac: n.mac }),
      ),
    );
    try {
      const [pa, pb] = peers as [(typeof peers)[0], (typeof peers)[0]];
      const fromA = await askLlmnr(pa.ns, {
        from: pa.address,
        to: '224.0.0.252',
        name: 'taskcluster',
      });
      expect(fromA.answers.map((x) => [x.from, x.port, x.addrs])).toEqual([
        [a.gateway, 5355, ['169.254.169.254']],
      ]);
      const record = await askLlmnr(pa.ns, { from: pa.address, to: a.gateway, name: 'ARTIFACTS' });
      expect(record.answers.map((x) => x.addrs)).toEqual([['203.0.113.10']]);

      const answered = (await pool.status()).llmnr!.answered;
      const bToA = await askLlmnr(pb.ns, {
        from: pb.address,
        to: a.gateway,
        name: 'taskcluster',
        waitMs: 2000,
      });
      expect(bToA.answers).toEqual([]);
      const fromB = await askLlmnr(pb.ns, {
        from: pb.address,
        to: '224.0.0.252',
        name: 'taskcluster',
      });
      expect(fromB.answers.map((x) => [x.from, x.addrs])).toEqual([
        [b.gateway, ['169.254.169.254']],
      ]);
      // Exactly B's own query was answered meanwhile: the one to A's address never arrived.
      expect((await pool.status()).llmnr!.answered - answered).toBe(1);
    } finally {
      await Promise.all(peers.map((p) => p.close()));
      await pool.dispose();
    }
    expect((await run(['ss', '-Hlun', 'sport', '=', '5355'])).stdout).toBe('');
  });

  it('a responder that cannot bind fails Pool.create, and everything before it is undone', async () => {
    // Another process holding 0.0.0.0:5355 without SO_REUSEADDR: ours cannot share the port.
    const blocker = createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve) => blocker.bind({ address: '0.0.0.0', port: 5355 }, resolve));
    try {
      await expect(Pool.create({ size: 2, upstreamDns: [] })).rejects.toMatchObject({
        code: 'ERR_LLMNR_START',
      });
      // No dnsmasq left behind either (the snapshot after the test compares the rest).
      expect((await run(['ss', '-Hlun', 'sport', '=', '53'])).stdout).toBe('');
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('llmnr: false: no responder, 5355 closed', async () => {
    const pool = await Pool.create({ size: 1, upstreamDns: [], llmnr: false });
    const n = pool.network();
    const peer = await createTapPeer({
      tap: n.name,
      subnet: n.subnet,
      gateway: n.gateway,
      mac: n.mac,
    });
    try {
      expect((await pool.status()).llmnr).toBeNull();
      expect((await run(['ss', '-Hlun', 'sport', '=', '5355'])).stdout).toBe('');
      const got = await askLlmnr(peer.ns, {
        from: peer.address,
        to: '224.0.0.252',
        name: 'taskcluster',
        waitMs: 2000,
      });
      expect(got).toEqual({ sent: 1, answers: [] });
    } finally {
      await peer.close();
      await pool.dispose();
    }
  });
});
