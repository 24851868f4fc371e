import { expectedMessage } from '@tapnet/internal';
import { InvalidOptionError } from './errors.js';

/** Throws the facade's InvalidOptionError: "Expected `field` to be …, got `value` (type)". */
export function fail(field: string, expected: string, value: unknown): never {
  throw new InvalidOptionError(field, expectedMessage(field, expected, value));
}

/**
 * The codes the packages give an option they refuse: tap-pool, metadata-proxy, user-network and
 * qemu-args `ERR_INVALID_OPTION`, firewall `ERR_INVALID_POLICY`, dhcp-dns `ERR_INVALID_CONFIG`.
 */
const OPTION_ERROR_CODES: ReadonlySet<string> = new Set([
  'ERR_INVALID_OPTION',
  'ERR_INVALID_POLICY',
  'ERR_INVALID_CONFIG',
]);

/** A package option's path (`upstream[0]`, `restart.maxDelayMs`) and how to read it apart. */
const PATH = /`([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*|\[\d+\])*)`/;
const HEAD = /^[A-Za-z_$][\w$]*/;

/**
 * The option a package's error names: its `field`/`option` property when it has one (firewall,
 * dhcp-dns), else the first `` `path` `` of its message ("Expected `size` to be …"), which is
 * the one form every package's messages share.
 */
export function optionPathOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { field?: unknown; option?: unknown; message?: unknown };
  if (typeof e.field === 'string' && e.field !== '') return e.field;
  if (typeof e.option === 'string' && e.option !== '') return e.option;
  return typeof e.message === 'string' ? PATH.exec(e.message)?.[1] : undefined;
}

/**
 * How a package's option names map to the facade's: `{ upstream: 'upstreamDns' }` turns
 * `upstream[0]` into `upstreamDns[0]`. A name the map does not hold becomes `fallback`.
 */
export interface OptionNames {
  readonly names: Readonly<Record<string, string>>;
  /** The facade option a path the map does not know comes from. */
  readonly fallback: string;
}

/** The facade's path for a package's option path. Pure. */
export function facadePathOf(packagePath: string | undefined, map: OptionNames): string {
  if (packagePath === undefined) return map.fallback;
  const head = HEAD.exec(packagePath)?.[0] ?? '';
  const own = Object.hasOwn(map.names, head) ? map.names[head] : undefined;
  return own === undefined ? map.fallback : own + packagePath.slice(head.length);
}

/**
 * A package's option error as the facade's `InvalidOptionError`: `.option` is the facade's own
 * path, the message names it too, the package's error is the `cause`. Any other error is
 * returned as it is (a conflict with the host, a missing tool: not an option's fault).
 */
export function asFacadeOptionError(error: unknown, map: OptionNames): unknown {
  if (error instanceof InvalidOptionError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !OPTION_ERROR_CODES.has(code)) return error;
  const packagePath = optionPathOf(error);
  const option = facadePathOf(packagePath, map);
  const original = String((error as { message?: unknown }).message);
  const message =
    packagePath === undefined
      ? `${original} (option \`${option}\`)`
      : original.replace(`\`${packagePath}\``, `\`${option}\``);
  return new InvalidOptionError(option, message, { cause: error });
}

/** Runs a package's normaliser, turning its option errors into the facade's. */
export function normalizeWith<T>(map: OptionNames, normalize: () => T): T {
  try {
    return normalize();
  } catch (error) {
    throw asFacadeOptionError(error, map);
  }
}
