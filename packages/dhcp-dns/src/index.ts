export { buildDnsmasqConfig } from './config.js';
export { type DnsAnswer, type DnsResponse, RecordType } from './dns-message.js';
export { type QueryManyOptions, queryDns, queryDnsMany } from './dns-query.js';
export { type DnsStats, parseDnsStats } from './dns-stats.js';
export {
  Dnsmasq,
  type DnsmasqEvents,
  type DnsmasqRecords,
  type DnsmasqStartOptions,
  type DnsmasqState,
  type DnsmasqStatus,
  type ForgetOptions,
  type ForgetResult,
  type RestartEvent,
} from './dnsmasq.js';
export {
  DhcpDnsError,
  DnsmasqFailedError,
  type DnsmasqRunDetails,
  DnsmasqStartError,
  InvalidConfigError,
  LlmnrStartError,
} from './errors.js';
export type { Lease } from './leases.js';
export {
  type LlmnrNetwork,
  LlmnrResponder,
  type LlmnrResponderOptions,
  type LlmnrStats,
  llmnrDefaults,
  planLlmnr,
} from './llmnr.js';
export { type LlmnrRate, SubnetIndex, TokenBuckets } from './llmnr-budget.js';
export {
  answerLlmnrQuery,
  buildLlmnrRecords,
  LLMNR_GROUP,
  LLMNR_PORT,
  type LlmnrQuestion,
  type LlmnrRecords,
  parseLlmnrQuery,
} from './llmnr-message.js';
export {
  type DhcpNetwork,
  type DnsmasqOptions,
  defaults,
  type HostRecord,
  normalizeOptions,
  type RestartOptions,
  type SrvRecord,
} from './options.js';
export {
  type ChildExit,
  type ChildProcess,
  defaultRunner,
  type Runner,
} from './runner.js';
export { stopStaleDnsmasq } from './stale.js';
export {
  isDnsName,
  isInterfaceName,
  isIPv4,
  isIPv6,
  isLeaseTime,
  isSafeAbsolutePath,
  isSrvLabel,
  prefixLengthOfNetmask,
} from './validate.js';
