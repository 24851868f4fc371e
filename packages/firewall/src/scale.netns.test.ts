// The policy at its largest (4096 networks) with real packets, on both backends: the iptables
// backend finds "one of our TAPs" through a trie of chains and per-network addresses in
// ipsets, so check the ends of that trie in the kernel, not only the text. Behaviour only;
// the per-packet cost is measured in bench/scale.ts.
import {
  createNetns,
  createVethPeer,
  describeNetns,
  type Netns,
  runOk,
  waitFor,
} from '@tapnet/testing';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFirewall, type Firewall } from './firewall.js';
import { buildPolicy } from './policy.js';

const MD = '169.254.169.254';
/** Network i: device tn<i>, 10.200.(i >> 4).((i & 15) << 4)/28, gateway .1 of it, VM .2. */
const at = (i: number, host: number) => `10.200.${i >> 4}.${((i & 15) << 4) + host}`;
const policy = buildPolicy({
  prefix: 'tn',
  networks: Array.from({ length: 4096 }, (_, i) => ({
    device: `tn${i}`,
    subnet: `${at(i, 0)}/28`,
    gateway: at(i, 1),
  })),
});

let last: Netns; // on tn4095, the deepest leaf of the trie
let middle: Netns; // on tn1234
let stranger: Netns; // on tn4096: not ours, though its name continues our trie's path
const servers: ResultPromise[] = [];

function tcp(vm: Netns, host: string, port: number, bind?: string) {
  const target = `TCP4:${host}:${port},connect-timeout=2${bind ? `,bind=${bind}` : ''}`;
  return vm.run(['socat', '-T', '2', '-t', '2', '-', target], { input: '', timeout: 15_000 });
}

describeNetns('4096 networks with real traffic', () => {
  beforeAll(async () => {
    last = await createNetns('last');
    middle = await createNetns('middle');
    stranger = await createNetns('stranger');
    for (const [vm, i] of [
      [last, 4095],
      [middle, 1234],
    ] as const) {
      await createVethPeer({
        hostName: `tn${i}`,
        peer: vm,
        hostAddress: `${at(i, 1)}/28`,
        peerAddress: `${at(i, 2)}/28`,
        peerGateway: at(i, 1),
      });
    }
    await createVethPeer({
      hostName: 'tn4096',
      peer: stranger,
      hostAddress: '10.99.0.1/24',
      peerAddress: '10.99.0.2/24',
      peerGateway: '10.99.0.1',
    });
    await runOk(['ip', 'addr', 'add', `${MD}/32`, 'dev', 'lo']);
    servers.push(
      execa('socat', [`TCP4-LISTEN:80,bind=${MD},reuseaddr,fork`, 'EXEC:echo metadata'], {
        reject: false,
      }),
      execa('socat', ['TCP4-LISTEN:2222,reuseaddr,fork', 'EXEC:echo host'], { reject: false }),
    );
    let seen = '';
    await waitFor(
      async () => {
        seen = await runOk(['ss', '-H', '-ltn']);
        return seen.includes(`${MD}:80`) && seen.includes(':2222');
      },
      { what: 'the metadata and host stand-ins listening', seen: () => seen },
    );
  }, 60_000);

  afterAll(async () => {
    for (const server of servers) server.kill('SIGKILL');
    await Promise.all(servers);
  });

  describe.each(['nft', 'iptables'] as const)('%s backend', (backend) => {
    let fw: Firewall;
    beforeAll(async () => {
      fw = createFirewall({ backend });
      await fw.apply(policy);
    }, 180_000);
    afterAll(async () => {
      await fw.remove();
    }, 180_000);

    it('serves the metadata service to the VMs of the last and of a middle network', async () => {
      expect((await tcp(last, MD, 80)).stdout.trim()).toBe('metadata');
      expect((await tcp(middle, MD, 80)).stdout.trim()).toBe('metadata');
    });

    it('refuses the last network’s VM anything else on the host, while the middle one is served', async () => {
      const refused = await tcp(last, at(4095, 1), 2222);
      expect(refused.stdout).not.toContain('host');
      expect(refused.exitCode).not.toBe(0);
      expect((await tcp(middle, MD, 80)).stdout.trim()).toBe('metadata');
    });

    it('drops the last network’s VM posing with an address of the middle network', async () => {
      const spoofed = at(1234, 9);
      await last.runOk(['ip', 'addr', 'add', `${spoofed}/32`, 'dev', 'eth0']);
      try {
        const posing = await tcp(last, MD, 80, spoofed);
        expect(posing.stdout).not.toContain('metadata');
        expect(posing.exitCode).not.toBe(0);
        expect((await tcp(middle, MD, 80)).stdout.trim()).toBe('metadata');
      } finally {
        await last.runOk(['ip', 'addr', 'del', `${spoofed}/32`, 'dev', 'eth0']);
      }
    });

    it('leaves a device that is not one of ours (tn4096) to the host’s own rules', async () => {
      expect((await tcp(stranger, '10.99.0.1', 2222)).stdout.trim()).toBe('host');
    });
  });
});
