export { type AcquireOptions, type Holding, NetworkAllocator } from './allocator.js';
export {
  type ClaimOptions,
  claimAddress,
  claimPrefix,
  type PrefixClaim,
  prefixHolder,
} from './claim.js';
export {
  configureScript,
  deviceSysctls,
  removeScript,
  type SysctlWrite,
  tapScript,
} from './commands.js';
export {
  AllNetworksInUseError,
  CommandError,
  type CommandFailure,
  type Conflict,
  DeviceExistsError,
  InvalidOptionError,
  PlanConflictError,
  PrefixInUseError,
  StateError,
  SysctlError,
  TapPoolError,
  UnsafeStateDirError,
} from './errors.js';
export { readHostSnapshot } from './host.js';
export { DEFAULTS, MAX_SIZE, type TapPoolOptions } from './options.js';
export {
  checkConflicts,
  type HostSnapshot,
  type NetworkPlan,
  type PoolPlan,
  planPool,
} from './plan.js';
export {
  type CleanupOptions,
  type CleanupReport,
  type CreateTapPoolOptions,
  cleanupPool,
  createTapPool,
  type TapPool,
} from './pool.js';
export {
  DEFAULT_BURST_MS,
  DEFAULT_MIN_BURST,
  type DirectionLimit,
  defaultBurst,
  formatRate,
  MAX_PACKETS_PER_SECOND,
  MAX_RATE,
  MIN_BURST,
  MIN_RATE,
  type NormalizedTrafficLimits,
  normalizeTrafficLimits,
  parseBurst,
  parseRate,
  type Rate,
  type ShapedRate,
  sameLimits,
  type TrafficLimits,
} from './rate.js';
export { defaultRunner, type Runner, type RunnerResult } from './runner.js';
export {
  cleanupShaping,
  createShaper,
  defaultSyncRunner,
  readTraffic,
  type Shaper,
  type ShaperOptions,
  type ShapingCleanupReport,
  type SyncRunner,
  type TrafficCounters,
} from './shaper.js';
export {
  ifbCreateScript,
  ifbGroup,
  ifbMark,
  ifbName,
  ifbNamesFit,
  ifbRemoval,
  type LinkEntry,
  parsePpsCounters,
  parseTcCounters,
  ppsBurst,
  ppsRemoveScript,
  ppsScript,
  ppsTable,
  type QdiscCounters,
  type ShapingChange,
  TBF_LATENCY,
  tcScript,
} from './shaping.js';
export {
  checkStateDir,
  ensureStateDir,
  isAlive,
  readState,
  type StateRecord,
  statePath,
} from './state.js';
