import { errorFamily } from '@tapnet/internal';

const family = errorFamily('@tapnet/qemu-args');

/**
 * Base of every error this package throws; `code` is stable, `field` names the offending input.
 * `instanceof` works across duplicate installs of the package (a `Symbol.for` brand per class).
 */
export class QemuArgsError extends Error {
  static {
    family.base(QemuArgsError, 'QemuArgsError');
  }
  readonly code: string;
  readonly field: string | undefined;

  constructor(message: string, options: { code: string; field?: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.field = options.field;
  }
}

/** An input a QEMU option value cannot carry or that QEMU would reject. */
export class InvalidQemuArgError extends QemuArgsError {
  static {
    family.member(InvalidQemuArgError, 'InvalidQemuArgError');
  }
  static readonly errorCode = 'ERR_INVALID_QEMU_ARG';
  constructor(message: string, field: string) {
    super(message, { code: InvalidQemuArgError.errorCode, field });
  }
}

/** A `-netdev`/`-device` value (or a `cmd:` text) that cannot be parsed. */
export class QemuArgSyntaxError extends QemuArgsError {
  static {
    family.member(QemuArgSyntaxError, 'QemuArgSyntaxError');
  }
  static readonly errorCode = 'ERR_QEMU_ARG_SYNTAX';
  constructor(message: string, field?: string) {
    const code = QemuArgSyntaxError.errorCode;
    super(message, field === undefined ? { code } : { code, field });
  }
}
