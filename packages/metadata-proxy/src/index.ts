export {
  type Cidr,
  formatCidr,
  formatIPv4,
  normalizeRemoteAddress,
  overlaps,
  parseCidr,
  parseIPv4,
  remoteIPv4,
} from './address.js';
export {
  assertNetworkName,
  createDispatcher,
  type DispatchEntry,
  type Dispatcher,
} from './dispatcher.js';
export {
  ClosedError,
  DuplicateNetworkError,
  HandlerError,
  InvalidOptionError,
  ListenError,
  MetadataProxyError,
  NetworkOverlapError,
  UnknownNetworkError,
  UpstreamError,
} from './errors.js';
export {
  type FetchHandler,
  type ForwardTarget,
  fetchHandler,
  type HandlerContext,
  type MetadataHandler,
  type NodeHandler,
  nodeHandler,
  resolveHandler,
} from './handler.js';
export { SessionTokens, TokenBucket } from './limits.js';
export {
  DEFAULTS,
  type HardeningOptions,
  type MetadataServerOptions,
  type NormalizedHardening,
  normalizeHardening,
  type PerNetworkLimits,
  type TokenOptions,
} from './options.js';
export { Response } from './response.js';
export {
  type MetadataErrorEvent,
  type MetadataRequestEvent,
  MetadataServer,
  type MetadataServerEvents,
  type NetworkStats,
  type StatusClass,
} from './server.js';
