import { mkdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { createNetns, createVethPeer, describeNetns, run, runOk, waitFor } from './index.js';
import { diffNamespaceState, snapshotHost } from './snapshot.js';

describeNetns('the namespace sandbox', () => {
  it('runs in a network namespace other than the one the test command started in', () => {
    expect(readlinkSync('/proc/self/ns/net')).not.toBe(process.env.TAPNET_HOST_NETNS);
  });

  it('makes a test host with a veth peer, and deleting it leaves nothing behind', async () => {
    const linksBefore = await runOk(['ip', '-o', 'link', 'show']);
    const ns = await createNetns();
    await createVethPeer({
      hostName: 'tvh0',
      peer: ns,
      hostAddress: '10.9.0.1/30',
      peerAddress: '10.9.0.2/30',
    });
    const ping = await ns.run(['busybox', 'ping', '-c', '1', '-W', '2', '10.9.0.1']);
    expect(ping.exitCode).toBe(0);
    await ns.delete();
    await ns.delete(); // idempotent
    expect(await runOk(['ip', '-o', 'link', 'show'])).toBe(linksBefore);
    expect((await run(['ip', 'netns', 'list'])).stdout).not.toContain(ns.name);
  });

  it("the host snapshot sees what is left in the default state folder (this sandbox's own)", async () => {
    const before = await snapshotHost();
    mkdirSync('/run/tapnet/zz', { recursive: true });
    writeFileSync('/run/tapnet/zz/dnsmasq.pid', '1\n');
    try {
      const changes = diffNamespaceState(before, await snapshotHost());
      expect(changes).toHaveLength(1);
      expect(changes[0]).toMatch(/^stateDir:\n/);
      expect(changes[0]).toContain('\n  + zz\n  + zz/dnsmasq.pid');
    } finally {
      rmSync('/run/tapnet/zz', { recursive: true, force: true });
    }
    expect(diffNamespaceState(before, await snapshotHost())).toEqual([]);
  });

  it('waitFor fails with what it saw so far', async () => {
    await expect(
      waitFor(() => false, { what: 'never', timeout: 100, seen: () => 'console text' }),
    ).rejects.toThrow(/timed out after 100 ms waiting for never; seen so far:\nconsole text/);
  });
});
