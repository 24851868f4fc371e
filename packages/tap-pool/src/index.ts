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
export { defaultRunner, type Runner, type RunnerResult } from './runner.js';
export {
  checkStateDir,
  ensureStateDir,
  isAlive,
  readState,
  type StateRecord,
  statePath,
} from './state.js';
