// Every default of the options in one place: `normalizeOptions` applies them, the facade
// imports them rather than restating them.

export const defaults = Object.freeze({
  metadataIp: '169.254.169.254',
  metadataNames: Object.freeze(['taskcluster']),
  upstream: 'host' as const,
  leaseTime: '20m',
  // `.internal` is reserved for private use (ICANN, 2024): never a public name.
  domain: 'tapnet.internal',
  dnsmasqPath: 'dnsmasq',
  readyTimeoutMs: 10_000,
  restart: Object.freeze({
    maxQuickFailures: 5,
    initialDelayMs: 200,
    maxDelayMs: 10_000,
    quickFailureWindowMs: 10_000,
  }),
});

export const fileNames = Object.freeze({
  config: 'dnsmasq.conf',
  leases: 'dnsmasq.leases',
  pid: 'dnsmasq.pid',
});
