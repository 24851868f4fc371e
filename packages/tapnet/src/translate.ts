import { join } from 'node:path';
import {
  type DnsmasqOptions,
  type LlmnrResponderOptions,
  normalizeOptions as normalizeDnsmasqOptions,
  planLlmnr,
} from '@tapnet/dhcp-dns';
import { buildPolicy, type Policy, type PolicyOptions } from '@tapnet/firewall';
import { type NormalizedHardening, normalizeHardening } from '@tapnet/metadata-proxy';
import { type PoolPlan, planPool, type TapPoolOptions } from '@tapnet/tap-pool';
import { normalizeWith, type OptionNames } from './option-errors.js';
import type { NormalizedPoolOptions } from './options.js';

/*
 * The facade's options translated into each package's, as pure functions tested by value, and
 * each package's own normaliser run on them, its option errors named by the facade's path.
 */

/** Each package's option names that are not the facade's (the others are the same). */
const TAP_POOL_NAMES: OptionNames = {
  names: same(
    'size',
    'prefix',
    'subnet',
    'prefixLength',
    'metadataIp',
    'ipv6',
    'owner',
    'stateDir',
  ),
  fallback: 'options',
};
const POLICY_NAMES: OptionNames = {
  names: {
    ...same('prefix', 'metadataIp', 'metadataPort', 'uplink', 'allow', 'ipv6', 'llmnr'),
    // The networks are the facade's plan of `subnet` and `prefixLength`.
    networks: 'subnet',
    connections: 'limits.connections',
  },
  fallback: 'options',
};
const DNSMASQ_NAMES: OptionNames = {
  names: {
    ...same('stateDir', 'metadataIp', 'metadataNames', 'hostRecords', 'srvRecords', 'leaseTime'),
    networks: 'subnet',
    upstream: 'upstreamDns',
    domain: 'dnsDomain',
    restart: 'dnsmasqRestart',
  },
  fallback: 'options',
};
const LLMNR_NAMES: OptionNames = {
  names: { ...same('metadataIp', 'metadataNames', 'hostRecords'), networks: 'subnet' },
  fallback: 'options',
};
const HARDENING_NAMES: OptionNames = {
  names: same('metadataHardening'),
  fallback: 'metadataHardening',
};

function same(...names: string[]): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, name]));
}

export function tapPoolOptionsOf(o: NormalizedPoolOptions): TapPoolOptions {
  return {
    size: o.size,
    prefix: o.prefix,
    ...(o.subnet !== undefined && { subnet: o.subnet }),
    ...(o.prefixLength !== undefined && { prefixLength: o.prefixLength }),
    metadataIp: o.metadataIp,
    ipv6: o.ipv6,
    ...(o.owner !== undefined && { owner: o.owner }),
    stateDir: o.stateDir,
  };
}

export function policyOptionsOf(
  o: NormalizedPoolOptions,
  plan: PoolPlan,
  uplink: string | null,
): PolicyOptions {
  return {
    prefix: plan.prefix,
    networks: plan.networks.map((n) => ({
      device: n.device,
      subnet: n.subnet,
      gateway: n.gateway,
    })),
    metadataIp: o.metadataIp,
    metadataPort: o.metadataPort,
    uplink,
    allow: o.allow,
    ipv6: o.ipv6,
    connections: o.limits.connections,
    llmnr: o.llmnr,
  };
}

export function dnsmasqOptionsOf(o: NormalizedPoolOptions, plan: PoolPlan): DnsmasqOptions {
  return {
    networks: plan.networks.map((n) => ({
      name: n.device,
      device: n.device,
      gateway: n.gateway,
      netmask: n.netmask,
      rangeStart: n.dhcpRange.start,
      rangeEnd: n.dhcpRange.end,
    })),
    // One folder per pool: dnsmasq's config, leases and pid file.
    stateDir: join(o.stateDir, plan.prefix),
    metadataIp: o.metadataIp,
    metadataNames: o.metadataNames,
    hostRecords: o.hostRecords,
    srvRecords: o.srvRecords,
    upstream: o.upstreamDns,
    leaseTime: o.leaseTime,
    // Absent: @tapnet/dhcp-dns's default domain; null: none.
    ...(o.dnsDomain !== undefined && { domain: o.dnsDomain }),
    ...(o.dnsmasqRestart !== undefined && { restart: o.dnsmasqRestart }),
  };
}

export function llmnrOptionsOf(o: NormalizedPoolOptions, plan: PoolPlan): LlmnrResponderOptions {
  return {
    networks: plan.networks.map((n) => ({
      name: n.device,
      gateway: n.gateway,
      netmask: n.netmask,
    })),
    metadataIp: o.metadataIp,
    metadataNames: o.metadataNames,
    hostRecords: o.hostRecords,
  };
}

/** What `Pool.create` hands each package: planned and validated, nothing applied. */
export interface PoolParts {
  plan: PoolPlan;
  policy: Policy;
  dnsmasq: DnsmasqOptions;
  /** Undefined with `llmnr: false`. */
  llmnr: LlmnrResponderOptions | undefined;
  /** Undefined when the caller gave none (the metadata server's defaults). */
  hardening: NormalizedHardening | undefined;
}

/**
 * Plans the pool and validates every option through the package that owns it (its exported
 * normaliser), in the order the packages are used; the first bad option throws the facade's
 * `InvalidOptionError` naming the facade's option path, the package's error as `cause`. Pure.
 */
export function planParts(o: NormalizedPoolOptions, uplink: string | null): PoolParts {
  const plan = normalizeWith(TAP_POOL_NAMES, () => planPool(tapPoolOptionsOf(o)));
  const policy = normalizeWith(POLICY_NAMES, () => buildPolicy(policyOptionsOf(o, plan, uplink)));
  const dnsmasq = dnsmasqOptionsOf(o, plan);
  normalizeWith(DNSMASQ_NAMES, () => normalizeDnsmasqOptions(dnsmasq));
  const llmnr = o.llmnr ? llmnrOptionsOf(o, plan) : undefined;
  if (llmnr) normalizeWith(LLMNR_NAMES, () => planLlmnr(llmnr));
  const hardening =
    o.metadataHardening === undefined
      ? undefined
      : normalizeWith(HARDENING_NAMES, () =>
          normalizeHardening(o.metadataHardening, 'metadataHardening'),
        );
  return { plan, policy, dnsmasq, llmnr, hardening };
}
