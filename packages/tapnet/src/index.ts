export type { DnsStats, HostRecord, Lease, RestartOptions, SrvRecord } from '@tapnet/dhcp-dns';
export type { AllowEntry, DriftEvent } from '@tapnet/firewall';
export type {
  FetchHandler,
  ForwardTarget,
  HandlerContext,
  HardeningOptions,
  MetadataHandler,
  MetadataRequestEvent,
  NodeHandler,
} from '@tapnet/metadata-proxy';
export { fetchHandler, nodeHandler, Response } from '@tapnet/metadata-proxy';
export type { NicModel } from '@tapnet/qemu-args';
export { AllNetworksInUseError } from '@tapnet/tap-pool';
export type { UserNetworkOptions } from '@tapnet/user-network';
export { cleanupLeftovers, type LeftoverReport } from './cleanup.js';
export {
  ConntrackError,
  InvalidOptionError,
  MetadataHandlerError,
  PoolDisposedError,
  PrefixInUseError,
  ReleasedError,
  TapnetError,
  UplinkNotFoundError,
} from './errors.js';
export type { LeasesForgottenEvent, PoolEvents, PoolStatus } from './events.js';
export type { Limits, NetworkLimits } from './limits.js';
export type { PoolMetrics, PoolMetricsOptions } from './metrics.js';
export { Network } from './network.js';
export type { FirewallBackendOption, PoolOptions } from './options.js';
export { Pool } from './pool.js';
export type { NetworkTraffic } from './traffic.js';
export { UserNetwork } from './user-network.js';
