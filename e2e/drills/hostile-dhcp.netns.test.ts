import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTapPeer, describeNetns, type TapPeer, waitFor } from '@tapnet/testing';
import { type Network, Pool } from 'tapnet';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  parseStarveResult,
  STARVER_SCRIPT,
} from '../../packages/dhcp-dns/src/starver.test-helpers.js';

// Drill (issue 11 item 3): a tenant takes every address of its network's DHCP range with
// made-up MACs, through the real pool (TAP, firewall, dnsmasq). Meanwhile another network's
// VM leases and resolves `taskcluster`. Once the network is released, its next tenant must
// lease at once instead of waiting 20 minutes for the made-up leases to expire.

const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  bound|renew) echo "LEASE ip=$ip" ;;
esac
`;

async function udhcpc(peer: TapPeer, script: string, tries: number) {
  const started = performance.now();
  const result = await peer.ns.run(
    ['busybox', 'udhcpc', '-i', 'eth0', '-f', '-n', '-q', '-t', String(tries), '-T', '1'].concat([
      '-s',
      script,
    ]),
    { timeout: 30_000 },
  );
  return { ...result, ms: performance.now() - started };
}

function peerOn(network: Network, mac: string): Promise<TapPeer> {
  return createTapPeer({
    tap: network.name,
    subnet: network.subnet,
    gateway: network.gateway,
    mac,
    prefix: 'hd',
  });
}

describeNetns('drill: DHCP starvation does not outlive release()', () => {
  let pool: Pool;
  let dir: string;
  let script: string;
  const peers: TapPeer[] = [];
  const forgotten: unknown[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tapnet-hostile-dhcp-'));
    script = join(dir, 'udhcpc.sh');
    await writeFile(script, UDHCPC_SCRIPT);
    await chmod(script, 0o755);
    await writeFile(join(dir, 'starver.mjs'), STARVER_SCRIPT);
    pool = await Pool.create({ size: 2, prefix: 'hd' });
    pool.on('leases-forgotten', (event) => forgotten.push(event));
  });

  afterAll(async () => {
    for (const peer of peers) await peer.close();
    await pool?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // A budget, not a wait: the starvation alone may take 180 s on a loaded machine (every wait inside is on a condition).
  it('the next tenant leases at once, and the other network is served throughout', async () => {
    const victim = pool.network();
    const neighbour = pool.network();
    const attacker = await peerOn(victim, '52:54:00:15:00:01');
    peers.push(attacker);
    const good = await peerOn(neighbour, '52:54:00:15:00:02');
    peers.push(good);

    // The attack, and the neighbour's lease and name lookups while it runs.
    const [stdout, served] = await Promise.all([
      attacker.ns.runOk([process.execPath, join(dir, 'starver.mjs'), victim.gateway, '1000'], {
        timeout: 180_000,
      }),
      (async () => {
        const got = await udhcpc(good, script, 5);
        const answers: string[] = [];
        for (let i = 0; i < 5; i++) {
          const answer = await good.ns.run(
            ['busybox', 'nslookup', 'taskcluster', neighbour.gateway],
            { timeout: 20_000 },
          );
          answers.push(answer.stdout);
        }
        return { got, answers };
      })(),
    ]);
    const attack = parseStarveResult(stdout);
    expect(attack.exhausted).toBe(true);
    expect(attack.acked).toBeGreaterThanOrEqual(250);
    expect(served.got.exitCode, served.got.stderr).toBe(0);
    expect(served.got.stdout).toContain('LEASE ip=');
    for (const answer of served.answers) expect(answer).toContain('169.254.169.254');

    // The attack worked: a well-behaved client on the victim's network gets nothing.
    await attacker.ns.runOk(['ip', 'link', 'set', 'eth0', 'address', '52:54:00:15:00:aa']);
    const refused = await udhcpc(attacker, script, 2);
    expect(refused.exitCode).not.toBe(0);
    await attacker.close();

    // Release: the next tenant of that network (acquire() waits until it is clean).
    victim.release();
    const next = await pool.acquire({ timeout: 60_000 });
    expect(next.name).toBe(victim.name);
    // Dropped by looped-back DHCPRELEASEs that the pool's own firewall lets out, not by a restart.
    expect(forgotten).toEqual([
      expect.objectContaining({ network: victim.name, remaining: 0, restarted: false }),
    ]);
    const tenant = await peerOn(next, next.mac);
    peers.push(tenant);
    // Generous: 5 DISCOVERs 1 s apart; a starved range answers none of them for 20 minutes.
    const leased = await udhcpc(tenant, script, 5);
    expect(leased.exitCode, leased.stderr).toBe(0);
    expect(leased.stdout).toContain('LEASE ip=');
    // The neighbour still resolves.
    const after = await good.ns.run(['busybox', 'nslookup', 'taskcluster', neighbour.gateway], {
      timeout: 20_000,
    });
    expect(after.stdout).toContain('169.254.169.254');
    console.info(
      `hostile DHCP drill: ${attack.acked} leases taken; release: ${JSON.stringify(forgotten[0])}; next tenant leased in ${Math.round(leased.ms)} ms`,
    );
    // A well-behaved tenant (its one lease is for the network's own MAC, which the next VM
    // takes over) hands the network back at once, as before.
    await waitFor(() => next.lease !== undefined, { what: "the tenant's lease event" });
    next.release();
    expect(pool.network().name).toBe(victim.name);
    expect(forgotten).toHaveLength(1);
    neighbour.release();
  }, 240_000);
});
