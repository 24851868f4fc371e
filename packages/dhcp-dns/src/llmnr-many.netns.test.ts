import { readFileSync } from 'node:fs';
import {
  askLlmnr,
  createNetns,
  createVethPeer,
  describeNetns,
  type Netns,
  runOk,
} from '@tapnet/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LlmnrResponder, maxMemberships } from './llmnr.js';

// More networks than one socket may join a group on (igmp_max_memberships, 20 by default): 24
// TAPs with nobody attached, and the 25th network is a real peer whose queries only the
// second group socket joined on.
const DUMMIES = 24;
let vm: Netns;
let responder: LlmnrResponder | undefined;

describeNetns('LLMNR responder with more networks than one socket can join', () => {
  beforeAll(async () => {
    for (let i = 0; i < DUMMIES; i++) {
      await runOk(['ip', 'tuntap', 'add', 'dev', `lm${i}`, 'mode', 'tap']);
      await runOk(['ip', 'addr', 'add', `10.233.${i}.1/24`, 'dev', `lm${i}`]);
      await runOk(['ip', 'link', 'set', `lm${i}`, 'up']);
    }
    vm = await createNetns('lmvm');
    await createVethPeer({
      hostName: 'lmx',
      peer: vm,
      hostAddress: `10.233.${DUMMIES}.1/24`,
      peerAddress: `10.233.${DUMMIES}.2/24`,
      peerGateway: `10.233.${DUMMIES}.1`,
    });
  });

  afterAll(async () => {
    await responder?.stop();
    await vm?.delete();
  });

  it('starts, and answers a network beyond the first socket’s memberships exactly once', async () => {
    const limit = Number(readFileSync('/proc/sys/net/ipv4/igmp_max_memberships', 'utf8'));
    expect(limit).toBeLessThan(DUMMIES + 1);
    responder = await LlmnrResponder.start({
      networks: Array.from({ length: DUMMIES + 1 }, (_, i) => ({
        name: `n${i}`,
        gateway: `10.233.${i}.1`,
        netmask: '255.255.255.0',
      })),
    });
    const got = await askLlmnr(vm, {
      from: `10.233.${DUMMIES}.2`,
      to: '224.0.0.252',
      name: 'taskcluster',
    });
    expect(got.answers).toEqual([
      { from: `10.233.${DUMMIES}.1`, port: 5355, id: 1, flags: 0x8000, addrs: ['169.254.169.254'] },
    ]);
    expect(responder.stats()).toMatchObject({ received: 1, answered: 1 });
  });
});

it('reads the membership limit, falling back to the kernel default', () => {
  expect(maxMemberships(() => '64\n')).toBe(64);
  expect(maxMemberships(() => 'x')).toBe(20);
  expect(
    maxMemberships(() => {
      throw new Error('no /proc');
    }),
  ).toBe(20);
});
