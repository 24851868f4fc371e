import { errorFamily, expectedMessage } from '@tapnet/internal';

const family = errorFamily('@tapnet/dhcp-dns');

/**
 * Base class of every error this package throws; `code` is stable, messages are not.
 * `instanceof` works across duplicate installs (a `Symbol.for` brand per class: the kit's
 * `errorFamily`, after undici).
 */
export class DhcpDnsError extends Error {
  static {
    family.base(DhcpDnsError, 'DhcpDnsError');
  }
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** An option failed validation; nothing was written or started. */
export class InvalidConfigError extends DhcpDnsError {
  static {
    family.member(InvalidConfigError, 'InvalidConfigError');
  }
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, expected: string, value: unknown) {
    super('ERR_INVALID_CONFIG', expectedMessage(field, expected, value));
    this.field = field;
    this.value = value;
  }
}

/** What a failing dnsmasq run left behind, attached as `cause`. */
export interface DnsmasqRunDetails {
  argv: readonly string[];
  exitCode?: number | undefined;
  signal?: string | undefined;
  stderr: string;
  config?: string | undefined;
}

/** dnsmasq did not start, or did not answer DNS on every gateway in time. */
export class DnsmasqStartError extends DhcpDnsError {
  static {
    family.member(DnsmasqStartError, 'DnsmasqStartError');
  }
  constructor(message: string, cause: DnsmasqRunDetails) {
    super('ERR_DNSMASQ_START', `${message}\n${tail(cause.stderr)}`.trimEnd(), { cause });
  }
}

/** dnsmasq kept dying quickly; the supervisor gave up restarting it. */
export class DnsmasqFailedError extends DhcpDnsError {
  static {
    family.member(DnsmasqFailedError, 'DnsmasqFailedError');
  }
  readonly restarts: number;

  constructor(message: string, restarts: number, cause: unknown) {
    super('ERR_DNSMASQ_FAILED', message, { cause });
    this.restarts = restarts;
  }
}

function tail(text: string, lines = 20): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** The LLMNR responder could not bind its sockets or join the group; nothing is left open. */
export class LlmnrStartError extends DhcpDnsError {
  static {
    family.member(LlmnrStartError, 'LlmnrStartError');
  }
  constructor(message: string, cause: unknown) {
    super('ERR_LLMNR_START', message, { cause });
  }
}
