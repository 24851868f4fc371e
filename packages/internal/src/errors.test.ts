import { describe, expect, it } from 'vitest';
import { errorBrand, errorFamily } from './errors.js';

// A family built as a package builds it: a base with its own constructor, members below it.
function makeFamily() {
  const family = errorFamily('@tapnet/example');
  class ExampleError extends Error {
    static {
      family.base(ExampleError, 'ExampleError');
    }
    readonly code: string = 'ERR_EXAMPLE';
  }
  class StateError extends ExampleError {
    static {
      family.member(StateError, 'StateError');
    }
    override readonly code: string = 'ERR_STATE';
  }
  class PrefixInUseError extends StateError {
    static {
      family.member(PrefixInUseError, 'PrefixInUseError');
    }
    override readonly code = 'ERR_PREFIX_IN_USE';
  }
  class OtherError extends ExampleError {
    static {
      family.member(OtherError, 'OtherError');
    }
  }
  return { ExampleError, StateError, PrefixInUseError, OtherError };
}

describe('errorFamily', () => {
  const here = makeFamily();
  // A second install of the package: the same source evaluated again, other class objects.
  const copy = makeFamily();

  it('answers instanceof for the class, its parents and Error', () => {
    const error = new here.PrefixInUseError('x');
    expect([
      error instanceof here.PrefixInUseError,
      error instanceof here.StateError,
      error instanceof here.ExampleError,
      error instanceof Error,
      error instanceof here.OtherError,
    ]).toEqual([true, true, true, true, false]);
    expect(new here.StateError('x') instanceof here.PrefixInUseError).toBe(false);
  });

  it('answers instanceof across duplicate installs', () => {
    const foreign = new copy.PrefixInUseError('x');
    expect(here.PrefixInUseError).not.toBe(copy.PrefixInUseError);
    expect([
      foreign instanceof here.PrefixInUseError,
      foreign instanceof here.StateError,
      foreign instanceof here.ExampleError,
      foreign instanceof here.OtherError,
      new copy.OtherError('x') instanceof here.StateError,
    ]).toEqual([true, true, true, false, false]);
  });

  it('refuses look-alikes without the brand', () => {
    expect(new Error('x') instanceof here.ExampleError).toBe(false);
    expect({ name: 'StateError', code: 'ERR_STATE' } instanceof here.StateError).toBe(false);
    expect((null as unknown) instanceof here.ExampleError).toBe(false);
    expect(('StateError' as unknown) instanceof here.StateError).toBe(false);
  });

  it('brands with Symbol.for keys a hand-built foreign error can carry', () => {
    const foreign = new Error('x');
    for (const name of [undefined, 'StateError']) {
      Object.defineProperty(foreign, errorBrand('@tapnet/example', name), { value: true });
    }
    expect(errorBrand('@tapnet/example', 'StateError')).toBe(
      Symbol.for('@tapnet/example.error.StateError'),
    );
    expect(foreign instanceof here.StateError).toBe(true);
    expect(foreign instanceof here.PrefixInUseError).toBe(false);
  });

  it('names instances from the prototype, not enumerably', () => {
    const error = new here.PrefixInUseError('boom');
    expect(error.name).toBe('PrefixInUseError');
    expect(String(error.stack).split('\n')[0]).toBe('PrefixInUseError: boom');
    expect(Object.keys(error)).toEqual(['code']);
  });

  it('lets an unbranded subclass fall back to the prototype chain', () => {
    class Custom extends here.StateError {}
    expect(new Custom('x') instanceof Custom).toBe(true);
    expect(new here.StateError('x') instanceof Custom).toBe(false);
    expect(new Custom('x') instanceof here.StateError).toBe(true);
  });
});
