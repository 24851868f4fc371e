import { MAX_TTL_SECONDS, MAX_WAIT_SECONDS } from './request.js';

/**
 * The control API's OpenAPI 3.1 document, served at /v1/openapi.json and kept in
 * docs/openapi.json (a test compares the two and walks every route of the server through it).
 */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ 'application/json': { schema } });
const error = (description: string) => ({ description, content: json(ref('Error')) });
const nameParam = {
  name: 'name',
  in: 'path',
  required: true,
  description: "The network's name (its TAP device)",
  schema: { type: 'string', pattern: '^[a-z][a-z0-9]{0,14}$' },
};
const handlerSchema = {
  description:
    'What answers the network on the metadata IP: an http(s) URL to forward to; `unix:/path` or an absolute path (a JSON table file or a folder), only inside the daemon\'s --handler-root; a JSON table `{ "<network>|*": { "/path": body } }`; null for none',
  oneOf: [
    { type: 'string' },
    { type: 'object', additionalProperties: { type: 'object' } },
    { type: 'null' },
  ],
};

export function openApiDocument(version: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'tapnet control API',
      version,
      description:
        'One `tapnet serve` per host owns a pool of isolated VM networks; workers acquire, configure and release them over HTTP/1.1 + JSON on a unix socket.',
      license: { name: 'MPL-2.0', identifier: 'MPL-2.0' },
    },
    servers: [
      {
        url: 'http://localhost',
        description: 'over the unix socket (`--socket`, default /run/tapnet/api.sock)',
      },
    ],
    paths: {
      '/v1/networks': {
        post: {
          operationId: 'acquireNetwork',
          summary: 'Acquire a free network (waiting up to `wait` seconds)',
          requestBody: { required: false, content: json(ref('AcquireRequest')) },
          responses: {
            '201': {
              description: 'The network, with its QEMU arguments',
              content: json(ref('Network')),
            },
            '400': error('Bad input: invalid JSON, unknown field, bad value (`option` names it)'),
            '409': error('All networks in use (after waiting `wait` seconds)'),
            '413': error('Body over 64 KiB'),
            '415': error('Not application/json'),
            '503': error('The daemon is shutting down'),
          },
        },
        get: {
          operationId: 'listNetworks',
          summary: 'Every network of the pool, held or free',
          responses: {
            '200': {
              description: 'The networks',
              content: json({ type: 'array', items: ref('Network') }),
            },
            '503': error('The daemon is shutting down'),
          },
        },
      },
      '/v1/networks/{name}': {
        parameters: [nameParam],
        get: {
          operationId: 'getNetwork',
          summary: 'One network: holder, lease, metadata counters, limits',
          responses: {
            '200': { description: 'The network', content: json(ref('Network')) },
            '404': error('No such network'),
            '503': error('The daemon is shutting down'),
          },
        },
        delete: {
          operationId: 'releaseNetwork',
          summary: 'Release a network (idempotent; with `id`, only that acquisition)',
          parameters: [
            {
              name: 'id',
              in: 'query',
              required: false,
              description:
                'The `id` the acquire answered: a late retry cannot release the next holder’s network',
              schema: { type: 'string' },
            },
          ],
          responses: {
            '200': {
              description: '`released` is false when the network was not held (by that `id`)',
              content: json({
                type: 'object',
                required: ['name', 'released'],
                properties: { name: { type: 'string' }, released: { type: 'boolean' } },
              }),
            },
            '404': error('No such network'),
          },
        },
      },
      '/v1/networks/{name}/handler': {
        parameters: [nameParam],
        put: {
          operationId: 'setHandler',
          summary: 'Replace the metadata handler of a held network',
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              required: ['handler'],
              additionalProperties: false,
              properties: { handler: handlerSchema },
            }),
          },
          responses: {
            '200': { description: 'The network', content: json(ref('Network')) },
            '400': error('Bad input'),
            '404': error('No such network'),
            '409': error('The network is not held'),
            '503': error('The daemon is shutting down'),
          },
        },
      },
      '/v1/networks/{name}/renew': {
        parameters: [nameParam],
        post: {
          operationId: 'renewNetwork',
          summary: 'Push the TTL deadline of a held network forward',
          requestBody: {
            required: false,
            content: json({
              type: 'object',
              additionalProperties: false,
              properties: { ttl: { type: 'number', minimum: 1, maximum: MAX_TTL_SECONDS } },
            }),
          },
          responses: {
            '200': { description: 'The network', content: json(ref('Network')) },
            '400': error('Bad input, or no TTL to renew'),
            '404': error('No such network'),
            '409': error('The network is not held'),
          },
        },
      },
      '/v1/status': {
        get: {
          operationId: 'getStatus',
          summary: 'The pool: sizes, firewall, dnsmasq, metadata counters, networks',
          responses: {
            '200': {
              description: 'The status',
              content: json({
                type: 'object',
                required: ['version', 'prefix', 'size', 'inUse', 'held'],
              }),
            },
            '503': error('The daemon is shutting down'),
          },
        },
      },
      '/v1/events': {
        get: {
          operationId: 'streamEvents',
          summary: 'Events as NDJSON, one object per line, until the client or the daemon stops',
          description:
            'acquire, release (reason: client, holder-exited, ttl-expired, shutdown), handler, handler-error (a handler failed; names the network), lease, leases-forgotten, dnsmasq-restart, firewall-drift, metadata-request, error. A reader more than 1 MiB behind is cut.',
          responses: {
            '200': {
              description: 'The stream',
              content: { 'application/x-ndjson': { schema: ref('Event') } },
            },
            '503': error('Too many streams, or shutting down'),
          },
        },
      },
      '/v1/openapi.json': {
        get: {
          operationId: 'getOpenApi',
          summary: 'This document',
          responses: { '200': { description: 'OpenAPI 3.1', content: json({ type: 'object' }) } },
        },
      },
      '/metrics': {
        get: {
          operationId: 'getMetrics',
          summary: 'Prometheus metrics (text exposition format)',
          responses: {
            '200': {
              description: 'The metrics',
              content: { 'text/plain': { schema: { type: 'string' } } },
            },
          },
        },
      },
    },
    components: {
      schemas: {
        Error: {
          type: 'object',
          required: ['code', 'message'],
          properties: {
            code: { type: 'string', examples: ['ERR_ALL_NETWORKS_IN_USE'] },
            message: { type: 'string' },
            option: { type: 'string', description: 'The field that was refused' },
          },
        },
        AcquireRequest: {
          type: 'object',
          additionalProperties: false,
          properties: {
            handler: handlerSchema,
            wait: {
              type: 'number',
              minimum: 0,
              maximum: MAX_WAIT_SECONDS,
              default: 0,
              description: 'Seconds to wait for a free network',
            },
            holder: {
              type: 'object',
              additionalProperties: false,
              description:
                'Released when this process exits (pid and start time) or the TTL passes without renewal',
              properties: {
                pid: { type: 'integer', minimum: 1, maximum: 4_194_304 },
                ttl: { type: 'number', minimum: 1, maximum: MAX_TTL_SECONDS },
              },
            },
            netdevId: {
              type: 'string',
              default: 'net0',
              pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,31}$',
            },
            model: { enum: ['virtio-net-pci', 'e1000'], default: 'virtio-net-pci' },
            limits: {
              type: 'object',
              additionalProperties: false,
              description:
                "This VM's traffic limits over the pool's default, from the VM's side (egress: what it sends); null lifts one",
              properties: {
                egress: { $ref: '#/components/schemas/DirectionLimit' },
                ingress: { $ref: '#/components/schemas/DirectionLimit' },
                packetsPerSecond: { type: ['integer', 'null'], minimum: 1, maximum: 10_000_000 },
              },
            },
          },
        },
        DirectionLimit: {
          description:
            "A rate ('100mbit', '12.5MB/s', or bits per second), a rate with a burst (bytes or '64kb'), or null",
          oneOf: [
            { type: 'null' },
            { type: 'string' },
            { type: 'number' },
            {
              type: 'object',
              required: ['rate'],
              additionalProperties: false,
              properties: {
                rate: { type: ['string', 'number'] },
                burst: { type: ['string', 'number'] },
              },
            },
          ],
        },
        Network: {
          type: 'object',
          required: ['name', 'inUse', 'subnet', 'gateway', 'metadataIp', 'limits'],
          properties: {
            name: { type: 'string' },
            inUse: { type: 'boolean' },
            subnet: { type: 'string' },
            gateway: { type: 'string' },
            metadataIp: { type: 'string' },
            mac: { type: 'string' },
            id: { type: 'string', description: 'This acquisition' },
            netdev: { type: 'string', description: "QEMU's -netdev value" },
            device: { type: 'string', description: "QEMU's -device value" },
            qemuArgs: { type: 'array', items: { type: 'string' } },
            holder: {
              type: 'object',
              properties: {
                pid: { type: 'integer' },
                ttl: { type: 'number' },
                expiresAt: { type: 'string', format: 'date-time' },
              },
            },
            acquiredAt: { type: 'string', format: 'date-time' },
            handler: {
              type: ['string', 'null'],
              description: 'forward, path, table, default or null',
            },
            lease: { type: 'object' },
            metadata: {
              type: 'object',
              description:
                'requests by status class, bytesOut, openConnections, refusedConnections',
            },
            limits: {
              type: 'object',
              description:
                'The conntrack cap; for a held network also its traffic limits in force (rate in bit/s, burst in bytes)',
              properties: {
                connections: { type: 'integer' },
                egress: { $ref: '#/components/schemas/ShapedRate' },
                ingress: { $ref: '#/components/schemas/ShapedRate' },
                packetsPerSecond: { type: 'integer' },
              },
            },
          },
        },
        ShapedRate: {
          type: 'object',
          properties: { rate: { type: 'integer' }, burst: { type: 'integer' } },
        },
        Event: {
          type: 'object',
          required: ['event', 'at'],
          properties: { event: { type: 'string' }, at: { type: 'string', format: 'date-time' } },
        },
      },
    },
  };
}
