import type { Dnsmasq, ForgetResult, Lease, LlmnrStats, RestartEvent } from '@tapnet/dhcp-dns';
import type { DriftEvent, FirewallStatus } from '@tapnet/firewall';
import type { MetadataRequestEvent, MetadataServer } from '@tapnet/metadata-proxy';
import type { NetworkTraffic } from './traffic.js';

/** Payload of `leases-forgotten`: a released network's leases dropped before it is handed out again. */
export interface LeasesForgottenEvent extends ForgetResult {
  network: string;
}

/**
 * The events a Pool emits and their arguments: `on`/`once`/`off` check both, so a misspelt
 * event name or a listener of the wrong shape fails to compile.
 */
export interface PoolEvents {
  lease: [Lease];
  'dnsmasq-restart': [RestartEvent];
  'leases-forgotten': [LeasesForgottenEvent];
  'firewall-drift': [DriftEvent];
  'metadata-request': [MetadataRequestEvent];
  /** A metadata handler's or upstream's failure is a `MetadataHandlerError` naming its network. */
  error: [Error];
  /** EventEmitter's own: a listener is being added / was removed. */
  newListener: [event: keyof PoolEvents, listener: (...args: never[]) => void];
  removeListener: [event: keyof PoolEvents, listener: (...args: never[]) => void];
}

export interface PoolStatus {
  prefix: string;
  size: number;
  inUse: number;
  available: number;
  /** `acquire()` calls waiting for a network. */
  waiting: number;
  /** The interface guests' traffic leaves by (NAT), or null: then only `allow` entries are forwarded. */
  uplink: string | null;
  /**
   * `net.ipv4.ip_forward` is 1 (the same reading as `firewall.forwarding`). The pool turns it on
   * only when it has an uplink or `allow` entries; it may be on for other reasons of the host.
   */
  forwarding: boolean;
  /** Whether a released network's tracked flows are flushed (needs the `conntrack` tool). */
  conntrackFlush: boolean;
  /** `reapplied`: times our rules were found changed by someone else and applied again. */
  firewall: FirewallStatus & { reapplied: number };
  dnsmasq: ReturnType<Dnsmasq['status']>;
  metadata: ReturnType<MetadataServer['stats']>;
  /** The LLMNR responder's counters; null when `llmnr: false`. */
  llmnr: LlmnrStats | null;
  /** The pool's default per-VM limits (`connections` and the traffic limits every network starts with). */
  limits: NetworkTraffic['limits'] & { connections: number };
  networks: ({
    name: string;
    subnet: string;
    gateway: string;
    inUse: boolean;
    lease?: Lease;
  } & NetworkTraffic)[];
}
