import { createNetns, type Netns } from './netns.js';
import { runOk } from './run.js';
import { createVethPeer } from './veth.js';

/** The sandbox's uplink to the stand-in internet: `up0` here, its peer's address there. */
export const UPLINK = { device: 'up0', host: '198.51.100.1', internet: '198.51.100.2' } as const;

/**
 * The "internet" for a test: a namespace behind the sandbox's `up0` (198.51.100.1/24 here,
 * 198.51.100.2/24 there) holding each of `addresses` as a /32 on its lo, with the sandbox's
 * default route through it (so `detectUplink` picks `up0`, and anything not local goes there).
 */
export async function createInternet(addresses: readonly string[]): Promise<Netns> {
  const ns = await createNetns('inet');
  await createVethPeer({
    hostName: UPLINK.device,
    peer: ns,
    hostAddress: `${UPLINK.host}/24`,
    peerAddress: `${UPLINK.internet}/24`,
  });
  for (const ip of addresses) await ns.runOk(['ip', 'addr', 'add', `${ip}/32`, 'dev', 'lo']);
  await runOk(['ip', 'route', 'add', 'default', 'via', UPLINK.internet, 'dev', UPLINK.device]);
  return ns;
}
