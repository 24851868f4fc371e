import { describe, expect, it } from 'vitest';
import {
  InvalidOptionError,
  ListenError,
  MetadataProxyError,
  NetworkOverlapError,
} from './errors.js';

describe('errors', () => {
  it('carry a stable code and name', () => {
    const error = new ListenError('no', { cause: 'x' });
    expect([error.code, error.name, error.cause]).toEqual(['ERR_LISTEN', 'ListenError', 'x']);
    expect(error).toBeInstanceOf(Error);
  });

  it('are recognised across duplicate installs by brand and code', () => {
    // What an error from a second copy of the package looks like: another class, same brand.
    const foreign = Object.assign(new Error('dup'), { code: 'ERR_NETWORK_OVERLAP' });
    Object.defineProperty(foreign, Symbol.for('@tapnet/metadata-proxy.error'), { value: true });
    expect(foreign instanceof MetadataProxyError).toBe(true);
    expect(foreign instanceof NetworkOverlapError).toBe(true);
    expect(foreign instanceof InvalidOptionError).toBe(false);
    expect(new Error('plain') instanceof MetadataProxyError).toBe(false);
  });
});
