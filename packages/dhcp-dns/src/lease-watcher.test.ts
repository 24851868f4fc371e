import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testNetworks } from './fixtures.test-helpers.js';
import { LeaseWatcher } from './lease-watcher.js';
import { normalizeOptions } from './options.js';

describe('LeaseWatcher', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tapnet-lease-watcher-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("finds a network's leases by its name among 4096 networks' leases", async () => {
    const networks = normalizeOptions({ networks: testNetworks(4096), stateDir: dir }).networks;
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    const lines = networks.map((n, i) => {
      const mac = `52:54:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
      return `${expiry} ${mac} ${n.rangeStart} * *`;
    });
    // A second lease on network 7.
    lines.push(`${expiry + 60} 52:54:00:ff:00:07 10.64.7.9 * *`);
    const path = join(dir, 'dnsmasq.leases');
    await writeFile(path, `${lines.join('\n')}\n`);
    const watcher = new LeaseWatcher(dir, path, () => networks, {
      lease: () => {},
      expire: () => {},
      release: () => {},
      error: (error) => {
        throw error;
      },
    });
    await watcher.load();
    expect(watcher.all()).toHaveLength(4097);
    expect(watcher.leasesOf('tn4095').map((l) => l.ip)).toEqual(['10.79.255.2']);
    expect(watcher.leasesOf('tn7').map((l) => l.ip)).toEqual(['10.64.7.2', '10.64.7.9']);
    expect(watcher.leaseFor('tn7')?.ip).toBe('10.64.7.9');
    expect(watcher.leasesOf('nope')).toEqual([]);
    // Copies: changing one changes nothing held.
    watcher.leasesOf('tn7')[0]!.ip = 'x';
    expect(watcher.leasesOf('tn7')[0]!.ip).toBe('10.64.7.2');
    watcher.stop();
  });
});
