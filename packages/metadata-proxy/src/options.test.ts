import { Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, MetadataProxyError } from './errors.js';
import { DEFAULTS, normalizeOptions } from './options.js';

describe('normalizeOptions', () => {
  it('fills every default', () => {
    expect(normalizeOptions(undefined)).toEqual({
      host: '169.254.169.254',
      port: 80,
      listener: undefined,
      singleNetwork: undefined,
      hardening: {
        rejectProxyHeaders: true,
        firstByteTimeoutMs: 2000,
        headersTimeoutMs: 5000,
        requestTimeoutMs: 10000,
        keepAliveTimeoutMs: 5000,
        maxHeaderSize: 8192,
        maxHeadersCount: 50,
        maxBodyBytes: 65536,
        perNetwork: {
          maxConnections: 32,
          requestsPerSecond: 100,
          burst: 200,
          connectionsPerSecond: 100,
          connectionBurst: 200,
        },
        maxConnections: 1024,
        tokens: false,
        requiredHeader: false,
      },
    });
  });

  it('fills token defaults when tokens are turned on, and lower-cases header names', () => {
    const o = normalizeOptions({
      hardening: { tokens: {}, requiredHeader: { name: 'Metadata-Flavor', value: 'Google' } },
    });
    expect(o.hardening.tokens).toEqual(DEFAULTS.hardening.tokens);
    expect(o.hardening.requiredHeader).toEqual({ name: 'metadata-flavor', value: 'Google' });
  });

  it('turns per-network limits off with false', () => {
    expect(normalizeOptions({ hardening: { perNetwork: false } }).hardening.perNetwork).toEqual({
      maxConnections: Number.POSITIVE_INFINITY,
      requestsPerSecond: Number.POSITIVE_INFINITY,
      burst: Number.POSITIVE_INFINITY,
      connectionsPerSecond: Number.POSITIVE_INFINITY,
      connectionBurst: Number.POSITIVE_INFINITY,
    });
  });

  it('takes `tokens: true` as required tokens with defaults, and `required: false` as optional', () => {
    expect(normalizeOptions({ hardening: { tokens: true } }).hardening.tokens).toEqual(
      DEFAULTS.hardening.tokens,
    );
    expect(DEFAULTS.hardening.tokens.required).toBe(true);
    expect(
      normalizeOptions({ hardening: { tokens: { required: false } } }).hardening.tokens,
    ).toEqual({ ...DEFAULTS.hardening.tokens, required: false });
  });

  it.each([
    [{ port: 0.5 }, 'Expected `port` to be an integer from 0 to 65535, got `0.5` (number)'],
    [{ port: '80' }, 'Expected `port` to be an integer from 0 to 65535, got `"80"` (string)'],
    [{ host: 'localhost' }, 'Expected `host` to be an IP address, got `"localhost"` (string)'],
    [
      { prot: 80 },
      'Expected `options` to have only `host`, `port`, `listener`, `singleNetwork`, `hardening`, got `prot`',
    ],
    [
      { hardening: { tokens: { required: 'no' } } },
      'Expected `hardening.tokens.required` to be a boolean, got `"no"` (string)',
    ],
    [
      { hardening: { perNetwork: { connectionsPerSecond: 0 } } },
      'Expected `hardening.perNetwork.connectionsPerSecond` to be a number above 0 or Infinity, got `0` (number)',
    ],
    [
      { hardening: { perNetwork: { connectionBurst: 1.5 } } },
      'Expected `hardening.perNetwork.connectionBurst` to be an integer from 1 to 1000000000 or Infinity, got `1.5` (number)',
    ],
    [
      { hardening: { firstByteTimeoutMs: 50 } },
      'Expected `hardening.firstByteTimeoutMs` to be an integer from 100 to 3600000, got `50` (number)',
    ],
    [
      { hardening: { maxHeaderSize: 10 } },
      'Expected `hardening.maxHeaderSize` to be an integer from 1024 to 1048576, got `10` (number)',
    ],
    [
      { hardening: { headersTimeoutMs: 20_000 } },
      'Expected `hardening.headersTimeoutMs` to be at most `hardening.requestTimeoutMs` (10000), got `20000` (number)',
    ],
    [
      { hardening: { perNetwork: { requestsPerSecond: 0 } } },
      'Expected `hardening.perNetwork.requestsPerSecond` to be a number above 0 or Infinity, got `0` (number)',
    ],
    [
      { hardening: { requiredHeader: { name: 'Bad Name', value: 'x' } } },
      'Expected `hardening.requiredHeader.name` to be an HTTP header name, got `"Bad Name"` (string)',
    ],
    [
      { hardening: { requiredHeader: { name: 'X', value: 'a\r\nb' } } },
      'Expected `hardening.requiredHeader.value` to be printable ASCII without leading or trailing spaces, got `"a\\r\\nb"` (string)',
    ],
    [
      { hardening: { tokens: { path: 'latest' } } },
      'Expected `hardening.tokens.path` to be an absolute URL path without a query, got `"latest"` (string)',
    ],
    [
      { listener: new Server() },
      'Expected `listener` to be listening already, got a net.Server that is not',
    ],
    [
      { singleNetwork: '' },
      'Expected `singleNetwork` to be 1 to 128 characters of letters, digits, "_.:@-", got `""` (string)',
    ],
    [null, 'Expected `options` to be an object, got `null` (null)'],
  ])('refuses %j', (input, message) => {
    let error: unknown;
    try {
      normalizeOptions(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toBeInstanceOf(MetadataProxyError);
    expect((error as InvalidOptionError).code).toBe('ERR_INVALID_OPTION');
    expect((error as InvalidOptionError).name).toBe('InvalidOptionError');
    expect((error as Error).message).toBe(message);
  });
});
