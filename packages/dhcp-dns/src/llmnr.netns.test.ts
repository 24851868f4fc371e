import {
  askLlmnr,
  createNetns,
  createVethPeer,
  describeNetns,
  type Netns,
  run,
} from '@tapnet/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LlmnrResponder } from './llmnr.js';

// vm0 (10.231.0.2) ── tn0 (10.231.0.1) ┐ the sandbox runs the responder
// vm1 (10.231.1.2) ── tn1 (10.231.1.1) ┘ (no firewall here: firewall's llmnr test has it)
let vm0: Netns;
let vm1: Netns;
let responder: LlmnrResponder;

/** Counts LLMNR answers reaching vm0 by their IP TTL (RFC 4795 section 2.5 wants 255). */
async function ttlCounters(ns: Netns): Promise<{ ttl255: number; other: number }> {
  const text = await ns.runOk(['nft', 'list', 'chain', 'ip', 'probe', 'in']);
  const count = (re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN);
  return {
    ttl255: count(/ip ttl 255 counter packets (\d+)/),
    other: count(/ip ttl != 255 counter packets (\d+)/),
  };
}

describeNetns('LLMNR responder on real sockets', () => {
  beforeAll(async () => {
    vm0 = await createNetns('vm0');
    vm1 = await createNetns('vm1');
    for (const [i, vm] of [vm0, vm1].entries()) {
      await createVethPeer({
        hostName: `tn${i}`,
        peer: vm,
        hostAddress: `10.231.${i}.1/24`,
        peerAddress: `10.231.${i}.2/24`,
        peerGateway: `10.231.${i}.1`,
      });
    }
    await vm0.runOk(['nft', '-f', '-'], {
      input: [
        'table ip probe {',
        '  chain in {',
        '    type filter hook input priority 0;',
        '    udp sport 5355 ip ttl 255 counter',
        '    udp sport 5355 ip ttl != 255 counter',
        '  }',
        '}',
        '',
      ].join('\n'),
    });
    responder = await LlmnrResponder.start({
      networks: [0, 1].map((i) => ({
        name: `tn${i}`,
        gateway: `10.231.${i}.1`,
        netmask: '255.255.255.0',
      })),
      hostRecords: [{ names: ['artifacts'], ipv4: '203.0.113.10' }],
      rate: { perSecond: 5, burst: 10 },
    });
  });

  afterAll(async () => {
    await responder?.stop();
    for (const ns of [vm0, vm1]) await ns?.delete();
  });

  it('answers a multicast query for the metadata name, unicast from the gateway, with IP TTL 255', async () => {
    const before = await ttlCounters(vm0);
    const got = await askLlmnr(vm0, { from: '10.231.0.2', to: '224.0.0.252', name: 'TaskCluster' });
    expect(got.answers).toEqual([
      { from: '10.231.0.1', port: 5355, id: 1, flags: 0x8000, addrs: ['169.254.169.254'] },
    ]);
    const after = await ttlCounters(vm0);
    expect(after.ttl255 - before.ttl255).toBe(1);
    expect(after.other - before.other).toBe(0);
  });

  it('answers an operator host record and a unicast query to the own gateway', async () => {
    const group = await askLlmnr(vm1, { from: '10.231.1.2', to: '224.0.0.252', name: 'artifacts' });
    expect(group.answers.map((a) => [a.from, a.addrs])).toEqual([['10.231.1.1', ['203.0.113.10']]]);
    const unicast = await askLlmnr(vm1, {
      from: '10.231.1.2',
      to: '10.231.1.1',
      name: 'taskcluster',
    });
    expect(unicast.answers.map((a) => [a.from, a.addrs])).toEqual([
      ['10.231.1.1', ['169.254.169.254']],
    ]);
  });

  it('stays silent for names it does not own, and still does not own them afterwards', async () => {
    const ignored = responder.stats().ignored;
    for (const name of ['vm1', 'wpad', 'taskcluster.example']) {
      const got = await askLlmnr(vm0, {
        from: '10.231.0.2',
        to: '224.0.0.252',
        name,
        waitMs: 1500,
      });
      expect(got).toEqual({ sent: 1, answers: [] });
    }
    expect(responder.stats().ignored - ignored).toBe(3);
    const again = await askLlmnr(vm1, {
      from: '10.231.1.2',
      to: '224.0.0.252',
      name: 'wpad',
      waitMs: 1500,
    });
    expect(again.answers).toEqual([]);
  });

  it('a flooding guest is cut to its budget while another network is answered meanwhile', async () => {
    const limited = responder.stats().limited;
    const [flood, other] = await Promise.all([
      askLlmnr(vm0, {
        from: '10.231.0.2',
        to: '224.0.0.252',
        name: 'taskcluster',
        count: 400,
        waitMs: 1500,
      }),
      askLlmnr(vm1, {
        from: '10.231.1.2',
        to: '224.0.0.252',
        name: 'taskcluster',
        count: 3,
        gapMs: 200,
      }),
    ]);
    expect(flood.sent).toBe(400);
    // The burst plus what 5/s refills while the flood lasts: far fewer than were sent.
    expect(flood.answers.length).toBeGreaterThanOrEqual(1);
    expect(flood.answers.length).toBeLessThan(100);
    expect(responder.stats().limited - limited).toBeGreaterThan(300);
    expect(other.answers.map((a) => a.addrs)).toEqual([
      ['169.254.169.254'],
      ['169.254.169.254'],
      ['169.254.169.254'],
    ]);
  });

  it('stop() closes every socket: no answer, nothing on port 5355', async () => {
    await responder.stop();
    await responder.stop(); // idempotent
    const got = await askLlmnr(vm0, {
      from: '10.231.0.2',
      to: '224.0.0.252',
      name: 'taskcluster',
      waitMs: 1500,
    });
    expect(got.answers).toEqual([]);
    expect((await run(['ss', '-Hlun', 'sport', '=', '5355'])).stdout).toBe('');
  });
});
