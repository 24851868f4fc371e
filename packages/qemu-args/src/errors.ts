const brand = Symbol.for('@tapnet/qemu-args.error');

/** Base of every error this package throws; `code` is stable, `field` names the offending input. */
export class QemuArgsError extends Error {
  readonly code: string;
  readonly field: string | undefined;

  constructor(message: string, options: { code: string; field?: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'QemuArgsError';
    this.code = options.code;
    this.field = options.field;
    Object.defineProperty(this, brand, { value: true });
  }

  // A second copy of this package (duplicate install) still recognises its errors: the brand
  // marks the family, the stable code picks the subclass.
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null || !(brand in value)) return false;
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass `instanceof` was asked about
    const code = (this as { readonly errorCode?: string }).errorCode;
    return code === undefined || (value as { code?: unknown }).code === code;
  }
}

/** An input a QEMU option value cannot carry or that QEMU would reject. */
export class InvalidQemuArgError extends QemuArgsError {
  static readonly errorCode = 'ERR_INVALID_QEMU_ARG';
  constructor(message: string, field: string) {
    super(message, { code: InvalidQemuArgError.errorCode, field });
    this.name = 'InvalidQemuArgError';
  }
}

/** A `-netdev`/`-device` value (or a `cmd:` text) that cannot be parsed. */
export class QemuArgSyntaxError extends QemuArgsError {
  static readonly errorCode = 'ERR_QEMU_ARG_SYNTAX';
  constructor(message: string, field?: string) {
    const code = QemuArgSyntaxError.errorCode;
    super(message, field === undefined ? { code } : { code, field });
    this.name = 'QemuArgSyntaxError';
  }
}

/** Renders a value for "got `...` (type)" messages, with control characters visible. */
export function show(value: unknown): string {
  if (typeof value === 'string') return `\`${JSON.stringify(value).slice(1, -1)}\` (string)`;
  if (value === null) return '`null` (null)';
  if (Array.isArray(value)) return `\`${JSON.stringify(value)}\` (array)`;
  if (typeof value === 'object') return '`[object]` (object)';
  return `\`${String(value)}\` (${typeof value})`;
}
