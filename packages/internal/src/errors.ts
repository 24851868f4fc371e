// One way to build a package's error family, after undici's lib/core/errors.js: every class
// carries a brand, a `Symbol.for` key, on its prototype, and `instanceof` asks for the brand
// instead of walking prototypes. `Symbol.for` keys are shared by the whole process, so an error
// thrown by a second install of the same package (two versions in one node_modules tree) is
// still `instanceof` the first install's classes. Subclass instances inherit their parents'
// brands through the prototype chain, so `instanceof` a parent class holds as usual.

/** Where a branded class keeps its brand (a local symbol: no clash with a package's own keys). */
const kBrand = Symbol('tapnet.errorBrand');

/** A class `instanceof` can be asked about; `never[]` accepts any constructor signature. */
type ErrorClass = abstract new (...args: never[]) => Error;

/** The `Symbol.for` key of `family`'s base class (`name` undefined) or of one class in it. */
export function errorBrand(family: string, name?: string): symbol {
  return Symbol.for(name === undefined ? `${family}.error` : `${family}.error.${name}`);
}

/**
 * The error family of one package, e.g. `errorFamily('@tapnet/firewall')`. In each class body
 * call `static { family.base(FirewallError, 'FirewallError') }` for the package's base class and
 * `static { family.member(InvalidPolicyError, 'InvalidPolicyError') }` for each subclass. The name is written
 * out rather than read from `cls.name`, which a bundler may rename (`InvalidOptionError2`).
 */
export interface ErrorFamily {
  readonly family: string;
  /** Brands the base class: it answers `instanceof` for every error of the family. */
  base(cls: ErrorClass, name: string): void;
  /** Brands a subclass: it answers `instanceof` for its own instances and its subclasses'. */
  member(cls: ErrorClass, name: string): void;
}

export function errorFamily(family: string): ErrorFamily {
  return {
    family,
    base: (cls, name) => brand(cls, name, errorBrand(family)),
    member: (cls, name) => brand(cls, name, errorBrand(family, name)),
  };
}

function brand(cls: ErrorClass, name: string, key: symbol): void {
  Object.defineProperty(cls.prototype, key, { value: true });
  // Like Error.prototype.name: not enumerable, so it shows in stacks but not in `{ ...error }`.
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true });
  Object.defineProperty(cls, kBrand, { value: key });
  Object.defineProperty(cls, Symbol.hasInstance, { value: hasBrand, configurable: true });
}

function hasBrand(this: ErrorClass, value: unknown): boolean {
  // Inherited by subclasses a package did not brand (a consumer's `class X extends
  // FirewallError`): those fall back to the prototype chain rather than answer for the parent.
  const key = Object.hasOwn(this, kBrand)
    ? (this as unknown as Record<symbol, symbol>)[kBrand]
    : undefined;
  if (key === undefined) return Function.prototype[Symbol.hasInstance].call(this, value);
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    (value as Record<symbol, unknown>)[key] === true
  );
}
