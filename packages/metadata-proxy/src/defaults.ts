// Every default of the options in one place: the normalisers apply them, the facade imports
// them rather than restating them.

export const DEFAULTS = Object.freeze({
  host: '169.254.169.254',
  port: 80,
  hardening: Object.freeze({
    rejectProxyHeaders: true,
    firstByteTimeoutMs: 2_000,
    headersTimeoutMs: 5_000,
    requestTimeoutMs: 10_000,
    keepAliveTimeoutMs: 5_000,
    maxHeaderSize: 8 * 1024,
    maxHeadersCount: 50,
    maxBodyBytes: 64 * 1024,
    perNetwork: Object.freeze({
      maxConnections: 32,
      requestsPerSecond: 100,
      burst: 200,
      // As the request rate: a client opening one connection per request (curl in a loop,
      // cloud-init) is never limited more by this than by the request rate.
      connectionsPerSecond: 100,
      connectionBurst: 200,
    }),
    maxConnections: 1024,
    tokens: Object.freeze({
      path: '/latest/api/token',
      ttlHeader: 'x-aws-ec2-metadata-token-ttl-seconds',
      tokenHeader: 'x-aws-ec2-metadata-token',
      maxTtlSeconds: 21_600,
      maxTokensPerNetwork: 1_000,
      required: true,
    }),
  }),
});
