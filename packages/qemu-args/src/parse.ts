import { type NetDeviceOptions, normalizeNetDeviceOptions } from './device.js';
import { QemuArgSyntaxError } from './errors.js';
import { type OptionPair, splitOptionString, splitSlirpCommand } from './escape.js';
import {
  type GuestForward,
  type HostForward,
  normalizeStreamNetdevOptions,
  normalizeTapNetdevOptions,
  normalizeUserNetdevOptions,
  type StreamNetdevOptions,
  type TapNetdevOptions,
  type UserNetdevOptions,
} from './netdev.js';

export type ParsedTapNetdev = { type: 'tap' } & TapNetdevOptions;
export type ParsedUserNetdev = { type: 'user' } & UserNetdevOptions;
export type ParsedStreamNetdev = { type: 'stream' } & StreamNetdevOptions;
export type ParsedNetdev = ParsedTapNetdev | ParsedUserNetdev | ParsedStreamNetdev;
export type ParsedDevice = NetDeviceOptions;

/** Reads pairs into a record; keys in `repeatable` collect arrays, any other repeated or unknown key is an error. */
function collect(
  text: string,
  pairs: OptionPair[],
  known: readonly string[],
  repeatable: readonly string[] = [],
): Record<string, string | string[]> {
  const out = Object.create(null) as Record<string, string | string[]>;
  for (const { key, value } of pairs) {
    if (key === undefined)
      throw new QemuArgSyntaxError(`Expected \`key=value\` in \`${text}\`, got \`${value}\``);
    if (!known.includes(key)) {
      throw new QemuArgSyntaxError(
        `Expected one of ${known.map((k) => `\`${k}\``).join(', ')} in \`${text}\`, got \`${key}\``,
        key,
      );
    }
    if (repeatable.includes(key)) {
      const list = (out[key] as string[] | undefined) ?? [];
      list.push(value);
      out[key] = list;
    } else if (key in out) {
      throw new QemuArgSyntaxError(`Expected \`${key}\` once in \`${text}\`, got it twice`, key);
    } else {
      out[key] = value;
    }
  }
  return out;
}

function typeOf(text: string, pairs: OptionPair[]): string {
  const first = pairs.shift();
  if (first === undefined)
    throw new QemuArgSyntaxError('Expected a type first, got an empty value');
  if (first.key === undefined || first.key === 'type' || first.key === 'driver') return first.value;
  throw new QemuArgSyntaxError(
    `Expected \`${text}\` to start with its type, got \`${first.key}=${first.value}\``,
    first.key,
  );
}

const ON = ['on', 'yes', 'true', 'y'];
const OFF = ['off', 'no', 'false', 'n'];

function bool(value: string | string[] | undefined, field: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && ON.includes(value)) return true;
  if (typeof value === 'string' && OFF.includes(value)) return false;
  throw new QemuArgSyntaxError(
    `Expected \`${field}\` to be \`on\` or \`off\`, got \`${String(value)}\``,
    field,
  );
}

function num(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw new QemuArgSyntaxError(
      `Expected \`${field}\` to be a decimal integer, got \`${value}\``,
      field,
    );
  return Number(value);
}

function clean<T extends object>(o: T): T {
  for (const key of Object.keys(o) as (keyof T)[]) if (o[key] === undefined) delete o[key];
  return o;
}

function parseHostForward(text: string, field: string): HostForward {
  const m = /^(tcp|udp|):([^:]*):([^-]*)-([^:]*):(.*)$/.exec(text);
  if (!m)
    throw new QemuArgSyntaxError(
      `Expected \`${field}\` like \`tcp:127.0.0.1:8080-:80\`, got \`${text}\``,
      field,
    );
  return clean({
    protocol: (m[1] || 'tcp') as 'tcp' | 'udp',
    hostAddress: m[2] || undefined,
    hostPort: num(m[3], `${field}.hostPort`)!,
    guestAddress: m[4] || undefined,
    guestPort: num(m[5], `${field}.guestPort`)!,
  });
}

function parseGuestForward(text: string, field: string): GuestForward {
  // slirp's own split: `[tcp]:server:port-` then a command or a chardev spec.
  const m = /^(tcp)?:([^:]*):([^-]*)-(.*)$/s.exec(text);
  if (!m)
    throw new QemuArgSyntaxError(
      `Expected \`${field}\` like \`tcp:10.0.2.100:80-cmd:...\`, got \`${text}\``,
      field,
    );
  const target = m[4]!;
  const base = { server: m[2]!, port: num(m[3], `${field}.port`)! };
  return target.startsWith('cmd:')
    ? { ...base, cmd: splitSlirpCommand(target.slice(4)) }
    : { ...base, chardev: target };
}

/** Parses a `-netdev` value made by `tapNetdev`, `userNetdev` or `streamNetdev` (or written by hand in the same subset). */
export function parseNetdev(value: string): ParsedNetdev {
  if (typeof value !== 'string')
    throw new QemuArgSyntaxError(`Expected a string, got \`${String(value)}\``);
  const pairs = splitOptionString(value);
  const type = typeOf(value, pairs);
  if (type === 'tap') {
    const o = collect(value, pairs, [
      'id',
      'ifname',
      'script',
      'downscript',
      'vhost',
      'queues',
    ]) as Record<string, string>;
    for (const key of ['script', 'downscript'] as const) {
      if (o[key] !== undefined && o[key] !== 'no') {
        throw new QemuArgSyntaxError(
          `Expected \`${key}\` to be \`no\` (tapnet sets devices up itself), got \`${o[key]}\``,
          key,
        );
      }
    }
    const parsed = normalizeTapNetdevOptions(
      clean({
        id: o.id,
        ifname: o.ifname,
        vhost: bool(o.vhost, 'vhost'),
        queues: num(o.queues, 'queues'),
      }),
    );
    return { type: 'tap', ...parsed };
  }
  if (type === 'user') {
    const o = collect(
      value,
      pairs,
      ['id', 'net', 'host', 'dhcpstart', 'dns', 'restrict', 'hostfwd', 'guestfwd'],
      ['hostfwd', 'guestfwd'],
    );
    const hostfwd = o.hostfwd as string[] | undefined;
    const guestfwd = o.guestfwd as string[] | undefined;
    const parsed = normalizeUserNetdevOptions(
      clean({
        id: o.id,
        net: o.net,
        host: o.host,
        dhcpstart: o.dhcpstart,
        dns: o.dns,
        restrict: bool(o.restrict, 'restrict'),
        hostfwd: hostfwd?.map((t, i) => parseHostForward(t, `hostfwd[${i}]`)),
        guestfwd: guestfwd?.map((t, i) => parseGuestForward(t, `guestfwd[${i}]`)),
      }),
    );
    return { type: 'user', ...parsed };
  }
  if (type === 'stream') {
    const o = collect(value, pairs, ['id', 'server', 'addr.type', 'addr.path']) as Record<
      string,
      string
    >;
    if (o['addr.type'] !== 'unix') {
      throw new QemuArgSyntaxError(
        `Expected \`addr.type\` to be \`unix\`, got \`${String(o['addr.type'])}\``,
        'addr.type',
      );
    }
    const parsed = normalizeStreamNetdevOptions(
      clean({ id: o.id, path: o['addr.path'], server: bool(o.server, 'server') }),
    );
    return { type: 'stream', ...parsed };
  }
  throw new QemuArgSyntaxError(
    `Expected the netdev type to be \`tap\`, \`user\` or \`stream\`, got \`${type}\``,
    'type',
  );
}

/** Parses a `-device` value made by `netDevice`. */
export function parseDevice(value: string): ParsedDevice {
  if (typeof value !== 'string')
    throw new QemuArgSyntaxError(`Expected a string, got \`${String(value)}\``);
  const pairs = splitOptionString(value);
  const model = typeOf(value, pairs);
  const o = collect(value, pairs, ['netdev', 'mac', 'id']) as Record<string, string>;
  return { ...normalizeNetDeviceOptions(clean({ model, netdev: o.netdev, mac: o.mac, id: o.id })) };
}
