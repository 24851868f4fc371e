import { NetworkAllocator, planPool } from '@tapnet/tap-pool';
import { describe, expect, it } from 'vitest';
import { ReleasedError } from './errors.js';
import { Network, type NetworkHost } from './network.js';

/** Handles over an allocator, wired as Pool wires them (without the devices). */
function handles() {
  const plan = planPool({ size: 1, prefix: 'tn' });
  const allocator = new NetworkAllocator(plan.networks);
  const acquire = () => {
    const holding = allocator.acquire();
    const host: NetworkHost = {
      setHandler: () => {},
      lease: () => undefined,
      release: () => holding.release(),
      heldByAnother: () => holding.released && allocator.isHeld(holding.item),
      limits: () => ({}),
      setLimits: async () => {},
    };
    return new Network(holding.item, host);
  };
  return { allocator, acquire };
}

describe('Network after release', () => {
  it('says it was released, and once the network has a next holder, that the handle is stale', async () => {
    const { allocator, acquire } = handles();
    const first = acquire();
    first.release();
    let error: unknown;
    try {
      first.netdev('n0');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ReleasedError);
    expect(error).toMatchObject({
      code: 'ERR_RELEASED',
      message: 'Network tn0 has been released and cannot be used any more',
    });

    const second = acquire();
    expect(() => first.qemuArgs('n0')).toThrow(
      'Network tn0: this handle was released; tn0 now belongs to another holder',
    );
    expect(() => first.lease).toThrow(ReleasedError);
    expect(() => first.limits).toThrow(ReleasedError);
    await expect(first.setLimits({ egress: '1mbit' })).rejects.toThrow(ReleasedError);
    // A late release of the stale handle leaves the next holder's network alone.
    first.release();
    expect(allocator.isHeld(allocator.items[0]!)).toBe(true);
    expect(allocator.available).toBe(0);
    expect(second.netdev('n0')).toBe('tap,id=n0,ifname=tn0,script=no,downscript=no');
  });
});
