export type { HostRecord, Lease, SrvRecord } from '@tapnet/dhcp-dns';
export type { DriftEvent } from '@tapnet/firewall';
export type {
  FetchHandler,
  ForwardTarget,
  HandlerContext,
  MetadataHandler,
  MetadataRequestEvent,
  NodeHandler,
} from '@tapnet/metadata-proxy';
export { fetchHandler, nodeHandler } from '@tapnet/metadata-proxy';
export { AllNetworksInUseError } from '@tapnet/tap-pool';
export { UserNetwork } from '@tapnet/user-network';
export {
  InvalidOptionError,
  PoolDisposedError,
  PrefixInUseError,
  ReleasedError,
  TapnetError,
} from './errors.js';
export type { Limits } from './limits.js';
export type { PoolMetrics, PoolMetricsOptions } from './metrics.js';
export { Network, type NicModel } from './network.js';
export { type FirewallBackendOption, normalizeOptions, type PoolOptions } from './options.js';
export {
  cleanupLeftovers,
  type LeasesForgottenEvent,
  type LeftoverReport,
  Pool,
  type PoolEvents,
  type PoolStatus,
} from './pool.js';
