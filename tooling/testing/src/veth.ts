import type { Netns } from './netns.js';
import { runOk } from './run.js';
import { assertInSandbox } from './sandbox.js';

export interface VethPeerOptions {
  /** Name of the end that stays in the sandbox (stands in for a VM's TAP device). */
  hostName: string;
  /** The namespace that plays the VM. */
  peer: Netns;
  /** Name of the VM's end inside `peer`. */
  peerName?: string;
  /** CIDR for the sandbox end, e.g. `10.0.0.1/24`; omit when the code under test assigns it. */
  hostAddress?: string;
  /** CIDR for the VM end; omit when it will ask DHCP. */
  peerAddress?: string;
  /** Default route of the VM end. */
  peerGateway?: string;
  /** MAC address of the VM end. */
  peerMac?: string;
}

export interface VethPeer {
  hostName: string;
  peerName: string;
  peer: Netns;
}

/**
 * A veth pair whose sandbox end carries a network's device name and whose other end sits in
 * `peer`: a VM without QEMU, for packet-level tests. Deleting `peer` deletes the pair.
 */
export async function createVethPeer(options: VethPeerOptions): Promise<VethPeer> {
  assertInSandbox();
  const peerName = options.peerName ?? 'eth0';
  const tmpName = `vp${Math.random().toString(36).slice(2, 10)}`;
  await runOk(['ip', 'link', 'add', options.hostName, 'type', 'veth', 'peer', 'name', tmpName]);
  await runOk(['ip', 'link', 'set', tmpName, 'netns', options.peer.name]);
  await options.peer.runOk(['ip', 'link', 'set', tmpName, 'name', peerName]);
  if (options.peerMac)
    await options.peer.runOk(['ip', 'link', 'set', peerName, 'address', options.peerMac]);
  if (options.hostAddress)
    await runOk(['ip', 'addr', 'add', options.hostAddress, 'dev', options.hostName]);
  await runOk(['ip', 'link', 'set', options.hostName, 'up']);
  await options.peer.runOk(['ip', 'link', 'set', peerName, 'up']);
  if (options.peerAddress)
    await options.peer.runOk(['ip', 'addr', 'add', options.peerAddress, 'dev', peerName]);
  if (options.peerGateway)
    await options.peer.runOk(['ip', 'route', 'add', 'default', 'via', options.peerGateway]);
  return { hostName: options.hostName, peerName, peer: options.peer };
}
