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

  it('are recognised across duplicate installs by brand and code', async () => {
    // What an error from a second copy of the package looks like: the errors module evaluated
    // again, other class objects.
    const again = './errors.js?duplicate-install';
    const copy: typeof import('./errors.js') = await import(/* @vite-ignore */ again);
    expect(copy.NetworkOverlapError).not.toBe(NetworkOverlapError);
    const foreign = new copy.NetworkOverlapError('dup');
    expect(foreign instanceof MetadataProxyError).toBe(true);
    expect(foreign instanceof NetworkOverlapError).toBe(true);
    expect(foreign instanceof InvalidOptionError).toBe(false);
    expect(new Error('plain') instanceof MetadataProxyError).toBe(false);
  });
});
