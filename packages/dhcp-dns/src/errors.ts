const brand = Symbol.for('@tapnet/dhcp-dns.error');

/** Base class of every error this package throws; `code` is stable, messages are not. */
export class DhcpDnsError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DhcpDnsError';
    this.code = code;
    Object.defineProperty(this, brand, { value: true });
    // One brand per class in the chain, so `instanceof InvalidConfigError` survives too.
    for (
      let c = new.target;
      c !== DhcpDnsError && typeof c === 'function';
      c = Object.getPrototypeOf(c)
    ) {
      Object.defineProperty(this, classBrand(c.name), { value: true });
    }
  }

  /** Survives two copies of this package in one process (undici's trick). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class instanceof was asked about, maybe a subclass
    const key = this === DhcpDnsError ? brand : classBrand(this.name);
    return (value as Record<symbol, unknown>)[key] === true;
  }
}

function classBrand(name: string): symbol {
  return Symbol.for(`@tapnet/dhcp-dns.error.${name}`);
}

/** An option failed validation; nothing was written or started. */
export class InvalidConfigError extends DhcpDnsError {
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, expected: string, value: unknown) {
    super(
      'ERR_INVALID_CONFIG',
      `Expected \`${field}\` to be ${expected}, got ${describeValue(value)}`,
    );
    this.name = 'InvalidConfigError';
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

/**
 * dnsmasq did not start, or did not answer DNS on every gateway in time. The message stays
 * short at any pool size (the first gateways and a count, dnsmasq's last lines cut to
 * MESSAGE_TAIL_CHARS); `details` (also `cause`) has the whole argv, output and config.
 */
export class DnsmasqStartError extends DhcpDnsError {
  readonly details: DnsmasqRunDetails;

  constructor(message: string, cause: DnsmasqRunDetails) {
    super('ERR_DNSMASQ_START', `${message}\n${tail(cause.stderr)}`.trimEnd(), { cause });
    this.name = 'DnsmasqStartError';
    this.details = cause;
  }
}

/** How many items of a list a message names before it says how many more there are. */
export const MESSAGE_ITEMS = 5;
/** At most this much of a program's output goes into a message (its end, where the error is). */
export const MESSAGE_TAIL_CHARS = 400;

/** `a, b, c, d, e and 4091 more`: the first `shown` items and a count, for messages. */
export function listSome(items: readonly string[], shown = MESSAGE_ITEMS): string {
  const head = items.slice(0, shown).join(', ');
  return items.length > shown ? `${head} and ${items.length - shown} more` : head;
}

/** dnsmasq kept dying quickly; the supervisor gave up restarting it. */
export class DnsmasqFailedError extends DhcpDnsError {
  readonly restarts: number;

  constructor(message: string, restarts: number, cause: unknown) {
    super('ERR_DNSMASQ_FAILED', message, { cause });
    this.name = 'DnsmasqFailedError';
    this.restarts = restarts;
  }
}

/** "`"a\\nb"` (string)": strings JSON-quoted so control characters are visible. */
export function describeValue(value: unknown): string {
  if (value === null) return '`null`';
  if (Array.isArray(value)) return `\`${safeJson(value)}\` (array)`;
  const type = typeof value;
  if (type === 'string') return `\`${JSON.stringify(value)}\` (string)`;
  if (type === 'object') return `\`${safeJson(value)}\` (object)`;
  if (type === 'undefined') return '`undefined`';
  return `\`${String(value)}\` (${type})`;
}

function safeJson(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return String(value);
  }
}

/** The last `lines` lines of `text`, at most `chars` characters of them (`…` where cut). */
export function tail(text: string, lines = 20, chars = MESSAGE_TAIL_CHARS): string {
  const end = text.split('\n').slice(-lines).join('\n');
  return end.length > chars ? `…${end.slice(end.length - chars + 1)}` : end;
}

/** The LLMNR responder could not bind its sockets or join the group; nothing is left open. */
export class LlmnrStartError extends DhcpDnsError {
  constructor(message: string, cause: unknown) {
    super('ERR_LLMNR_START', message, { cause });
    this.name = 'LlmnrStartError';
  }
}
