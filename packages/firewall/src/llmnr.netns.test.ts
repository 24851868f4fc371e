import { createSocket, type Socket } from 'node:dgram';
import {
  askLlmnr,
  createNetns,
  createVethPeer,
  describeNetns,
  type Netns,
  waitFor,
} from '@tapnet/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFirewall, type Firewall } from './firewall.js';
import { buildPolicy } from './policy.js';

// vm0 (10.231.0.2) ── tn0 (10.231.0.1) ┐ the sandbox (the host) runs an LLMNR stand-in:
// vm1 (10.231.1.2) ── tn1 (10.231.1.1) ┘ group socket joined on both gateways + one per gateway
let vm0: Netns;
let vm1: Netns;
const sockets: Socket[] = [];
const byAddress = new Map<string, Socket>();
/** Every query the stand-in got: which socket (group or gateway) and from whom. */
const received: { at: string; from: string }[] = [];

async function bound(address: string, join: string[]): Promise<void> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  sockets.push(socket);
  byAddress.set(address, socket);
  await new Promise<void>((resolve) => socket.bind({ address, port: 5355 }, resolve));
  for (const gateway of join) socket.addMembership('224.0.0.252', gateway);
  socket.on('message', (msg, from) => {
    received.push({ at: address, from: from.address });
    const answer = Buffer.from(msg);
    answer.writeUInt16BE(0x8000, 2); // a response with no records: enough to see it came back
    socket.send(answer, from.port, from.address);
  });
}

const policyOf = (llmnr: boolean) =>
  buildPolicy({
    prefix: 'tn',
    networks: [0, 1].map((i) => ({
      device: `tn${i}`,
      subnet: `10.231.${i}.0/24`,
      gateway: `10.231.${i}.1`,
    })),
    llmnr,
  });

const vm0Asks = (to: string) =>
  askLlmnr(vm0, { from: '10.231.0.2', to, name: 'taskcluster', waitMs: 2000 });
const vm1Asks = (to: string) =>
  askLlmnr(vm1, { from: '10.231.1.2', to, name: 'taskcluster', waitMs: 2000 });
/** UDP from the host's port 5355 that reached vm1 (an nft counter in vm1's namespace). */
async function vm1Got5355(): Promise<number> {
  const text = await vm1.runOk(['nft', 'list', 'chain', 'ip', 'probe', 'in']);
  return Number(/udp sport 5355 counter packets (\d+)/.exec(text)?.[1] ?? Number.NaN);
}

/** Sends one datagram from the stand-in socket bound to `from`:5355 to vm1's port 6000. */
function sendToVm1(from: string): Promise<void> {
  return new Promise((resolve) =>
    byAddress.get(from)?.send('x', 6000, '10.231.1.2', () => resolve()),
  );
}

const sources = (got: Awaited<ReturnType<typeof vm0Asks>>) => got.answers.map((a) => a.from);

describeNetns('LLMNR through the firewall (UDP 5355, own TAP only)', () => {
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
    await vm1.runOk(['nft', '-f', '-'], {
      input:
        'table ip probe {\n chain in {\n  type filter hook input priority 0;\n  udp sport 5355 counter\n }\n}\n',
    });
    await bound('224.0.0.252', ['10.231.0.1', '10.231.1.1']);
    await bound('10.231.0.1', []);
    await bound('10.231.1.1', []);
  });

  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const ns of [vm0, vm1]) await ns?.delete();
  });

  it('control: with no firewall, vm1 reaches the responder address of tn0 (so the refusal below is the firewall’s)', async () => {
    expect(sources(await vm1Asks('10.231.0.1'))).toEqual(['10.231.0.1']);
    expect(sources(await vm0Asks('224.0.0.252'))).toEqual(['10.231.0.1']);
  });

  describe.each(['nft', 'iptables'] as const)('%s backend', (backend) => {
    let fw: Firewall;
    beforeAll(() => {
      fw = createFirewall({ backend });
    });

    afterAll(async () => {
      await fw?.remove('tn');
    });

    it('llmnr: false keeps 5355 closed: no query reaches the stand-in', async () => {
      await fw.apply(policyOf(false));
      received.length = 0;
      expect(sources(await vm0Asks('224.0.0.252'))).toEqual([]);
      expect(sources(await vm0Asks('10.231.0.1'))).toEqual([]);
      expect(received).toEqual([]);
    });

    it('llmnr: true answers a query to the group and to the own gateway', async () => {
      await fw.apply(policyOf(true));
      expect(await fw.status(policyOf(true))).toMatchObject({ present: true, intact: true });
      received.length = 0;
      expect(sources(await vm0Asks('224.0.0.252'))).toEqual(['10.231.0.1']);
      expect(sources(await vm0Asks('10.231.0.1'))).toEqual(['10.231.0.1']);
      expect(received).toEqual([
        { at: '224.0.0.252', from: '10.231.0.2' },
        { at: '10.231.0.1', from: '10.231.0.2' },
      ]);
    });

    it('a guest on tn1 cannot reach tn0’s responder address, while its own network is served', async () => {
      await fw.apply(policyOf(true));
      received.length = 0;
      expect(sources(await vm1Asks('10.231.0.1'))).toEqual([]);
      expect(received).toEqual([]);
      // The well-behaved network meanwhile: vm1's own group query and gateway.
      expect(sources(await vm1Asks('224.0.0.252'))).toEqual(['10.231.1.1']);
      expect(sources(await vm1Asks('10.231.1.1'))).toEqual(['10.231.1.1']);
      expect(received.every((r) => r.at !== '10.231.0.1')).toBe(true);
    });

    it('an answer leaves only towards its own subnet: from tn0’s gateway to vm1 is dropped', async () => {
      await fw.apply(policyOf(true));
      const before = await vm1Got5355();
      await sendToVm1('10.231.0.1');
      // The control, sent after it: vm1's own gateway reaches vm1, so the count moves by one.
      await sendToVm1('10.231.1.1');
      await waitFor(async () => (await vm1Got5355()) > before, {
        what: 'the datagram from vm1’s own gateway',
      });
      expect((await vm1Got5355()) - before).toBe(1);
    });

    it('remove() takes the opening away with the rest', async () => {
      await fw.remove('tn');
      expect(await fw.status(policyOf(true))).toMatchObject({ present: false });
    });
  });
});
