export { cleanupFirewall } from './cleanup.js';
export type { Conflict } from './conflicts.js';
export type { Backend } from './detect.js';
export { detectBackend, detectUplink } from './detect.js';
export {
  BackendUnavailableError,
  FirewallApplyError,
  FirewallCommandError,
  FirewallError,
  FirewallOutputError,
  FirewallWatchError,
  InvalidPolicyError,
} from './errors.js';
export type { Firewall, FirewallOptions, FirewallStatus } from './firewall.js';
export { createFirewall } from './firewall.js';
export type { IptablesRuleset } from './iptables.js';
export { compileIptables, compileIptablesRemoval, iptablesChainPrefix } from './iptables.js';
export type { LineHandlers, LineProcess, Spawner } from './monitor.js';
export type { NftShape } from './nft.js';
export { compileNft, compileNftRemoval, nftDifferences, nftShape, nftTableName } from './nft.js';
export type {
  AllowEntry,
  FirewallNetwork,
  Policy,
  PolicyAllow,
  PolicyNetwork,
  PolicyOptions,
} from './policy.js';
export {
  BLOCKED_DESTINATIONS,
  buildPolicy,
  DEFAULT_CONNECTIONS,
  isDeviceName,
  MAX_CONNECTIONS,
} from './policy.js';
export type { Runner, RunResult } from './runner.js';
export type { DriftEvent, FirewallWatch, WatchOptions } from './watch.js';
