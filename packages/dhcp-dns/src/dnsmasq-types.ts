// The types of Dnsmasq's options, status and events.
import type { DhcpDnsError, DnsmasqFailedError } from './errors.js';
import type { Lease } from './leases.js';
import type { DnsmasqOptions, HostRecord, SrvRecord } from './options.js';
import type { Runner } from './runner.js';

export type DnsmasqState = 'running' | 'restarting' | 'failed' | 'stopped';

export interface DnsmasqStatus {
  state: DnsmasqState;
  pid?: number;
  restarts: number;
  lastError?: DhcpDnsError;
}

export interface RestartEvent {
  /** Consecutive restart attempt, from 1; resets after a run longer than the quick-failure window. */
  attempt: number;
  delayMs: number;
  exitCode: number | undefined;
  signal: string | undefined;
  /** The last lines dnsmasq wrote before it died. */
  stderr: string;
}

export interface DnsmasqRecords {
  metadataNames?: readonly string[];
  hostRecords?: readonly HostRecord[];
  srvRecords?: readonly SrvRecord[];
}

export interface DnsmasqEvents {
  lease: [Lease];
  expire: [Lease];
  release: [Lease];
  restart: [RestartEvent];
  failed: [DnsmasqFailedError];
  error: [Error];
}

export type DnsmasqStartOptions = DnsmasqOptions & { runner?: Runner };

export interface ForgetResult {
  /** Leases dnsmasq dropped on a DHCPRELEASE. */
  released: number;
  /** Whether dnsmasq had to be restarted on a filtered lease file (the fallback). */
  restarted: boolean;
  /** Leases of the network still held (only with `restart: false`). */
  remaining: number;
}

export interface ForgetOptions {
  /**
   * Restart dnsmasq on a filtered lease file when DHCPRELEASEs leave leases behind (default
   * true). With false, those leases stay until they expire.
   */
  restart?: boolean;
}
