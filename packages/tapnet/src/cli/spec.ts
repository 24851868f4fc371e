import { DEFAULT_CONNECTIONS } from '@tapnet/firewall';
import { NIC_MODELS } from '@tapnet/qemu-args';
import { MAX_SIZE } from '@tapnet/tap-pool';
import { FIREWALL_BACKENDS } from '../options.js';

/**
 * What the CLI accepts, as data: every command, its options and its usage line. Parsing, help,
 * usage errors and shell completion are all derived from this one table.
 */
export const OPTIONS = {
  size: { type: 'string', value: 'N', help: `how many networks (1 to ${MAX_SIZE})` },
  prefix: { type: 'string', value: 'P', help: 'device name prefix (`tn` → tn0, tn1, …)' },
  subnet: { type: 'string', value: 'CIDR', help: 'the range networks are cut from' },
  'prefix-length': { type: 'string', value: 'L', help: 'each network’s prefix length (16 to 30)' },
  firewall: { type: 'string', value: FIREWALL_BACKENDS.join('|'), help: 'the firewall backend' },
  uplink: { type: 'string', value: 'DEV|none', help: 'where guests’ traffic leaves (NAT)' },
  'state-dir': { type: 'string', value: 'DIR', help: 'where pools keep their records' },
  connections: {
    type: 'string',
    value: 'N',
    help: `per-VM conntrack cap (default ${DEFAULT_CONNECTIONS})`,
  },
  egress: { type: 'string', value: 'RATE', help: 'per-VM upload limit (`100mbit`, `12.5MB/s`)' },
  ingress: { type: 'string', value: 'RATE', help: 'per-VM download limit (`100mbit`, `12.5MB/s`)' },
  'packets-per-second': { type: 'string', value: 'N', help: 'per-VM cap on packets sent' },
  metadata: { type: 'string', value: 'FILE|DIR|URL', help: 'what the metadata service answers' },
  model: { type: 'string', value: NIC_MODELS.join('|'), help: 'the guest’s NIC' },
  user: { type: 'boolean', help: 'user-mode network (no root needed)' },
  'socket-folder': {
    type: 'string',
    value: 'DIR',
    help: 'where the metadata socket goes (--user)',
  },
  quiet: { type: 'boolean', help: 'do not log metadata requests' },
  socket: {
    type: 'string',
    value: 'PATH',
    help: 'the control API socket (default <state-dir>/api.sock)',
  },
  group: {
    type: 'string',
    value: 'GROUP',
    help: 'the group that may use the control socket (mode 0660)',
  },
  'log-format': { type: 'string', value: 'text|json', help: 'log lines on stderr (default text)' },
  'handler-root': {
    type: 'string',
    value: 'DIR',
    help: 'where clients’ path and unix: handlers may point (default: none allowed)',
  },
  listen: {
    type: 'string',
    value: 'HOST:PORT',
    help: 'the control API on TCP too, loopback only (needs --token-file)',
  },
  'token-file': { type: 'string', value: 'FILE', help: 'the bearer token TCP clients must send' },
  'metrics-address': {
    type: 'string',
    value: 'HOST:PORT',
    help: 'GET /metrics alone on TCP, for a scraper',
  },
  wait: { type: 'string', value: 'SECONDS', help: 'wait this long for a free network (default 0)' },
  pid: { type: 'string', value: 'PID', help: 'release the network when this process exits' },
  ttl: { type: 'string', value: 'SECONDS', help: 'release the network unless renewed within this' },
  json: { type: 'boolean', help: 'machine-readable output (NDJSON), errors as JSON on stderr' },
  help: { type: 'boolean', short: 'h', help: 'this help' },
  version: { type: 'boolean', help: 'print the version' },
} as const;

export type OptionName = keyof typeof OPTIONS;

export const CHOICES: Partial<Record<OptionName, readonly string[]>> = {
  firewall: FIREWALL_BACKENDS,
  'log-format': ['text', 'json'],
  model: NIC_MODELS,
};

const POOL: readonly OptionName[] = [
  'size',
  'prefix',
  'subnet',
  'prefix-length',
  'firewall',
  'uplink',
  'state-dir',
  'connections',
  'egress',
  'ingress',
  'packets-per-second',
];

export interface CommandSpec {
  summary: string;
  /** What follows `tapnet <name>` in the usage line. */
  synopsis: string;
  options: readonly OptionName[];
  /** Positional words the command takes (completion offers them). */
  positionals?: readonly string[];
  /** How many words may follow the positional (`net release NAME`). */
  arguments?: number;
  /** Whether the command takes words after `--` (QEMU's command line). */
  dashdash?: boolean;
}

export const COMMANDS = {
  doctor: {
    summary: 'check privileges, devices, tools, the uplink and the address plan',
    synopsis: '[--size N] [--prefix P] [--subnet CIDR] [--uplink DEV]',
    options: ['size', 'prefix', 'subnet', 'uplink', 'json'],
  },
  up: {
    summary: 'create a pool in the foreground; Ctrl-C (or SIGTERM/SIGHUP) disposes it',
    synopsis: '--size N [pool options] [--metadata FILE|DIR|URL] [--quiet]',
    options: [...POOL, 'metadata', 'quiet', 'json'],
  },
  run: {
    summary: 'run QEMU with a network of its own, released when QEMU exits',
    synopsis: '[--user] [--metadata FILE|DIR|URL] [--model M] -- QEMU ARGS…',
    options: [...POOL, 'metadata', 'model', 'user', 'socket-folder', 'json'],
    dashdash: true,
  },
  serve: {
    summary: 'a pool behind a control API on a unix socket, for workers in any language',
    synopsis:
      '--size N [pool options] [--socket PATH] [--group G] [--metadata SRC] [--handler-root DIR] [--log-format text|json]',
    options: [
      ...POOL,
      'metadata',
      'socket',
      'group',
      'handler-root',
      'listen',
      'token-file',
      'metrics-address',
      'log-format',
      'quiet',
    ],
  },
  status: {
    summary: 'the daemon’s pool when `tapnet serve` runs, else pools recorded on this host',
    synopsis: '[--state-dir DIR] [--socket PATH]',
    options: ['state-dir', 'socket', 'json'],
  },
  net: {
    summary: 'networks of the running daemon: list, acquire, release NAME',
    synopsis:
      'list|acquire|release [NAME] [--metadata SRC] [--wait S] [--pid PID] [--ttl S] [--socket PATH]',
    options: ['state-dir', 'socket', 'metadata', 'wait', 'pid', 'ttl', 'model', 'json'],
    positionals: ['list', 'acquire', 'release'],
    arguments: 1,
  },
  cleanup: {
    summary: 'remove what a crashed pool left behind (only what it created)',
    synopsis: '[--prefix P] [--state-dir DIR]',
    options: ['prefix', 'state-dir', 'json'],
  },
  completion: {
    summary: 'print a shell completion script',
    synopsis: 'bash|zsh',
    options: [],
    positionals: ['bash', 'zsh'],
  },
  help: {
    summary: 'help for a command',
    synopsis: '[COMMAND]',
    options: [],
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export function isCommand(word: string): word is CommandName {
  return Object.hasOwn(COMMANDS, word);
}

export function usageLine(command: CommandName): string {
  return `Usage: tapnet ${command} ${COMMANDS[command].synopsis}`.trimEnd();
}

function optionLine(name: OptionName): string {
  const o: { value?: string; short?: string; help: string } = OPTIONS[name];
  const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.value ? ` ${o.value}` : ''}`;
  return `  ${flag.padEnd(30)} ${o.help}`;
}

export function commandHelp(command: CommandName): string {
  const spec: CommandSpec = COMMANDS[command];
  const lines = [usageLine(command), '', spec.summary];
  if (spec.options.length > 0) lines.push('', 'Options:', ...spec.options.map(optionLine));
  return `${lines.join('\n')}\n`;
}

export function globalHelp(): string {
  const names = Object.keys(COMMANDS) as CommandName[];
  return [
    'Usage: tapnet <command> [options]',
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(12)} ${COMMANDS[n].summary}`),
    '',
    'Options for every command:',
    optionLine('json'),
    optionLine('help'),
    optionLine('version'),
    '',
    'Run `tapnet help <command>` (or `tapnet <command> --help`) for its options.',
    '',
  ].join('\n');
}
