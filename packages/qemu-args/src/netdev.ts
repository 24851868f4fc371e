import { type Cidr, describeValue, maskOf, parseIPv4 } from '@tapnet/internal';
import { InvalidQemuArgError } from './errors.js';
import { escapeOptionValue, quoteSlirpCommand } from './escape.js';
import {
  copyOptions,
  inNetwork,
  validateBoolean,
  validateId,
  validateIfname,
  validateInteger,
  validateIpv4,
  validateIpv4Network,
  validatePort,
  validateText,
} from './validate.js';

export interface TapNetdevOptions {
  /** The netdev id a `-device` refers to. */
  id: string;
  /** An existing TAP device (QEMU runs no scripts: `script=no,downscript=no`). */
  ifname: string;
  /** `vhost=on`/`off` (needs `/dev/vhost-net`); omitted when undefined. */
  vhost?: boolean;
  /** Number of queues of a multi-queue TAP, 1 to 1024. */
  queues?: number;
}

export interface HostForward {
  /** Default `tcp`; the built value always names the protocol. */
  protocol?: 'tcp' | 'udp';
  hostAddress?: string;
  /** 0 lets the host pick a port. */
  hostPort: number;
  guestAddress?: string;
  guestPort: number;
}

/** A guest TCP address forwarded to a command (run per connection) or to a chardev; exactly one of `cmd`/`chardev`. */
export interface GuestForward {
  server: string;
  port: number;
  /** argv, quoted for slirp's shell-like splitting; no shell runs it. */
  cmd?: readonly string[];
  /** A legacy chardev spec such as `unix:/path` (see `unixChardev`); QEMU connects to it at startup. */
  chardev?: string;
}

export interface UserNetdevOptions {
  id: string;
  /** IPv4 network of the guest, `a.b.c.d/n` (default in QEMU: 10.0.2.0/24). */
  net?: string;
  /** The gateway address the host has in `net` (default: 2nd address). */
  host?: string;
  dhcpstart?: string;
  /** The DNS address slirp answers on (default: 3rd address). */
  dns?: string;
  /** Isolate the guest from the host and the outside (forwards still work). */
  restrict?: boolean;
  hostfwd?: readonly HostForward[];
  guestfwd?: readonly GuestForward[];
}

export interface StreamNetdevOptions {
  id: string;
  /** Unix socket path (at most 107 bytes), e.g. passt's. */
  path: string;
  /** Listen on `path` instead of connecting to it. */
  server?: boolean;
}

const SUN_PATH_MAX = 107;
const DEFAULT_NET = '10.0.2.0/24';

export function normalizeTapNetdevOptions(options: unknown): TapNetdevOptions {
  const o = copyOptions(options, 'options', ['id', 'ifname', 'vhost', 'queues']);
  const result = Object.create(null) as TapNetdevOptions;
  result.id = validateId(o.id, 'id');
  result.ifname = validateIfname(o.ifname, 'ifname');
  if (o.vhost !== undefined) result.vhost = validateBoolean(o.vhost, 'vhost');
  if (o.queues !== undefined) result.queues = validateInteger(o.queues, 'queues', 1, 1024);
  return result;
}

/** `-netdev` value for an existing TAP device: `tap,id=net0,ifname=tn0,script=no,downscript=no`. */
export function tapNetdev(options: TapNetdevOptions): string {
  const o = normalizeTapNetdevOptions(options);
  let value = `tap,id=${o.id},ifname=${escapeOptionValue(o.ifname, 'ifname')},script=no,downscript=no`;
  if (o.vhost !== undefined) value += `,vhost=${o.vhost ? 'on' : 'off'}`;
  if (o.queues !== undefined) value += `,queues=${o.queues}`;
  return value;
}

/**
 * slirp's default for an address QEMU derives from 10.0.2.x: the network's bits, then the
 * template's host bits (net/slirp.c: `net | (htonl(0x0a000202) & ~mask)`), so in
 * 169.254.0.0/16 the host is 169.254.2.2 and the DNS 169.254.2.3, not .0.2/.0.3.
 */
function slirpDefault(network: Cidr, template: number): number {
  return (network.base | (template & ~maskOf(network.prefixLength))) >>> 0;
}

export function normalizeUserNetdevOptions(options: unknown): UserNetdevOptions {
  const o = copyOptions(options, 'options', [
    'id',
    'net',
    'host',
    'dhcpstart',
    'dns',
    'restrict',
    'hostfwd',
    'guestfwd',
  ]);
  const result = Object.create(null) as UserNetdevOptions;
  result.id = validateId(o.id, 'id');
  const network = validateIpv4Network(o.net ?? DEFAULT_NET, 'net');
  if (o.net !== undefined) result.net = o.net as string;
  for (const field of ['host', 'dhcpstart', 'dns'] as const) {
    if (o[field] === undefined) continue;
    const address = validateIpv4(o[field], field);
    if (!inNetwork(address, network)) {
      throw new InvalidQemuArgError(
        `Expected \`${field}\` to be an address in \`${o.net ?? DEFAULT_NET}\`, got ${describeValue(address)}`,
        field,
      );
    }
    result[field] = address;
  }
  if (o.restrict !== undefined) result.restrict = validateBoolean(o.restrict, 'restrict');
  if (o.hostfwd !== undefined)
    result.hostfwd = normalizeList(o.hostfwd, 'hostfwd', normalizeHostForward);
  if (o.guestfwd !== undefined) {
    const reserved = new Set([
      result.host === undefined ? slirpDefault(network, 0x0a000202) : parseIPv4(result.host),
      result.dns === undefined ? slirpDefault(network, 0x0a000203) : parseIPv4(result.dns),
    ]);
    const seen = new Set<string>();
    const chardevPorts = new Set<number>();
    result.guestfwd = normalizeList(o.guestfwd, 'guestfwd', (value, field) => {
      const fwd = normalizeGuestForward(value, field);
      if (!inNetwork(fwd.server, network) || reserved.has(parseIPv4(fwd.server))) {
        throw new InvalidQemuArgError(
          `Expected \`${field}.server\` to be an address in \`${o.net ?? DEFAULT_NET}\` other than the host and DNS addresses, got ${describeValue(fwd.server)}`,
          `${field}.server`,
        );
      }
      const key = `${fwd.server}:${fwd.port}`;
      if (seen.has(key)) {
        throw new InvalidQemuArgError(
          `Expected \`${field}\` to forward an address not forwarded before, got ${describeValue(key)} twice`,
          field,
        );
      }
      seen.add(key);
      // QEMU names a forward's chardev `guestfwd.tcp.<port>`: two on one port collide.
      if (fwd.chardev !== undefined) {
        if (chardevPorts.has(fwd.port)) {
          throw new InvalidQemuArgError(
            `Expected \`${field}.port\` to differ from other chardev forwards' ports, got ${describeValue(fwd.port)}`,
            `${field}.port`,
          );
        }
        chardevPorts.add(fwd.port);
      }
      return fwd;
    });
  }
  // An empty list builds nothing, so the normal form leaves it out (parse gives it back that way).
  if (result.hostfwd?.length === 0) delete result.hostfwd;
  if (result.guestfwd?.length === 0) delete result.guestfwd;
  return result;
}

function normalizeList<T>(
  value: unknown,
  field: string,
  each: (item: unknown, field: string) => T,
): T[] {
  if (!Array.isArray(value))
    throw new InvalidQemuArgError(
      `Expected \`${field}\` to be an array, got ${describeValue(value)}`,
      field,
    );
  return value.map((item, i) => each(item, `${field}[${i}]`));
}

export function normalizeHostForward(value: unknown, field: string): HostForward {
  const o = copyOptions(value, field, [
    'protocol',
    'hostAddress',
    'hostPort',
    'guestAddress',
    'guestPort',
  ]);
  const result = Object.create(null) as HostForward;
  const protocol = o.protocol ?? 'tcp';
  if (protocol !== 'tcp' && protocol !== 'udp') {
    throw new InvalidQemuArgError(
      `Expected \`${field}.protocol\` to be \`tcp\` or \`udp\`, got ${describeValue(protocol)}`,
      `${field}.protocol`,
    );
  }
  result.protocol = protocol;
  if (o.hostAddress !== undefined)
    result.hostAddress = validateIpv4(o.hostAddress, `${field}.hostAddress`);
  result.hostPort = validatePort(o.hostPort, `${field}.hostPort`, 0);
  if (o.guestAddress !== undefined)
    result.guestAddress = validateIpv4(o.guestAddress, `${field}.guestAddress`);
  result.guestPort = validatePort(o.guestPort, `${field}.guestPort`);
  return result;
}

export function normalizeGuestForward(value: unknown, field: string): GuestForward {
  const o = copyOptions(value, field, ['server', 'port', 'cmd', 'chardev']);
  const result = Object.create(null) as GuestForward;
  result.server = validateIpv4(o.server, `${field}.server`);
  result.port = validatePort(o.port, `${field}.port`);
  if ((o.cmd === undefined) === (o.chardev === undefined)) {
    throw new InvalidQemuArgError(
      `Expected \`${field}\` to have exactly one of \`cmd\` and \`chardev\`, got ${o.cmd === undefined ? 'neither' : 'both'}`,
      field,
    );
  }
  if (o.cmd !== undefined) {
    if (!Array.isArray(o.cmd) || o.cmd.length === 0) {
      throw new InvalidQemuArgError(
        `Expected \`${field}.cmd\` to be a non-empty array of strings, got ${describeValue(o.cmd)}`,
        `${field}.cmd`,
      );
    }
    validateText(o.cmd[0], `${field}.cmd[0]`);
    quoteSlirpCommand(o.cmd as string[], `${field}.cmd`); // validates every argument
    result.cmd = [...(o.cmd as string[])];
  } else {
    const chardev = validateText(o.chardev, `${field}.chardev`);
    if (chardev.startsWith('cmd:')) {
      throw new InvalidQemuArgError(
        `Expected \`${field}.chardev\` to be a chardev spec, not a \`cmd:\`, got ${describeValue(chardev)}`,
        `${field}.chardev`,
      );
    }
    result.chardev = chardev;
  }
  return result;
}

function hostForwardText(f: HostForward): string {
  return `${f.protocol ?? 'tcp'}:${f.hostAddress ?? ''}:${f.hostPort}-${f.guestAddress ?? ''}:${f.guestPort}`;
}

function guestForwardText(f: GuestForward, field: string): string {
  const target =
    f.cmd === undefined ? f.chardev! : `cmd:${quoteSlirpCommand(f.cmd, `${field}.cmd`)}`;
  return `tcp:${f.server}:${f.port}-${target}`;
}

/**
 * `-netdev` value for QEMU's user-mode (slirp) network, e.g.
 * `user,id=net0,net=169.254.0.0/16,restrict=on,guestfwd=tcp:169.254.169.254:80-cmd:nc -U /run/a,,b`.
 */
export function userNetdev(options: UserNetdevOptions): string {
  const o = normalizeUserNetdevOptions(options);
  const parts = ['user', `id=${o.id}`];
  if (o.net !== undefined) parts.push(`net=${o.net}`);
  if (o.host !== undefined) parts.push(`host=${o.host}`);
  if (o.dhcpstart !== undefined) parts.push(`dhcpstart=${o.dhcpstart}`);
  if (o.dns !== undefined) parts.push(`dns=${o.dns}`);
  if (o.restrict !== undefined) parts.push(`restrict=${o.restrict ? 'on' : 'off'}`);
  for (const f of o.hostfwd ?? []) parts.push(`hostfwd=${hostForwardText(f)}`);
  (o.guestfwd ?? []).forEach((f, i) => {
    parts.push(
      `guestfwd=${escapeOptionValue(guestForwardText(f, `guestfwd[${i}]`), `guestfwd[${i}]`)}`,
    );
  });
  return parts.join(',');
}

export function normalizeStreamNetdevOptions(options: unknown): StreamNetdevOptions {
  const o = copyOptions(options, 'options', ['id', 'path', 'server']);
  const result = Object.create(null) as StreamNetdevOptions;
  result.id = validateId(o.id, 'id');
  const path = validateText(o.path, 'path');
  if (Buffer.byteLength(path) > SUN_PATH_MAX) {
    throw new InvalidQemuArgError(
      `Expected \`path\` to be a unix socket path of at most ${SUN_PATH_MAX} bytes, got ${describeValue(path)}`,
      'path',
    );
  }
  result.path = path;
  if (o.server !== undefined) result.server = validateBoolean(o.server, 'server');
  return result;
}

/** `-netdev` value for a unix stream socket (passt): `stream,id=s0,server=off,addr.type=unix,addr.path=/run/p.sock`. */
export function streamNetdev(options: StreamNetdevOptions): string {
  const o = normalizeStreamNetdevOptions(options);
  const server = o.server === undefined ? '' : `,server=${o.server ? 'on' : 'off'}`;
  return `stream,id=${o.id}${server},addr.type=unix,addr.path=${escapeOptionValue(o.path, 'path')}`;
}

/** A legacy chardev spec for a guest forward to a unix socket QEMU connects to: `unix:<path>` with the path's commas doubled. */
export function unixChardev(path: string): string {
  return `unix:${escapeOptionValue(validateText(path, 'path'), 'path')}`;
}
