import { parseArgs } from 'node:util';
import { TapnetError } from '../errors.js';
import {
  CHOICES,
  COMMANDS,
  type CommandName,
  isCommand,
  OPTIONS,
  type OptionName,
  usageLine,
} from './spec.js';

/** A usage mistake: exit 2 with a short usage line; nothing was printed or created before it. */
export class UsageError extends TapnetError {
  readonly usage: string;
  constructor(message: string, command?: CommandName) {
    super('ERR_USAGE', message);
    this.usage = command ? usageLine(command) : 'Usage: tapnet <command> [options] (tapnet --help)';
  }
}

export type Values = {
  [K in OptionName]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string;
};

export type Parsed =
  | { kind: 'help'; command?: CommandName; json: boolean }
  | { kind: 'version'; json: boolean }
  | {
      kind: 'command';
      command: CommandName;
      values: Values;
      positionals: string[];
      rest: string[];
    };

/**
 * Reads a command line: the command, its options (only the ones it takes) and, for `run`, the
 * words after `--`. Pure; every usage mistake is a UsageError before any command runs.
 */
export function parseCommandLine(args: readonly string[]): Parsed {
  const dashdash = args.indexOf('--');
  const own = dashdash === -1 ? [...args] : args.slice(0, dashdash);
  const rest = dashdash === -1 ? [] : args.slice(dashdash + 1);
  const first = own.findIndex((a) => !a.startsWith('-'));
  const word = first === -1 ? undefined : own[first];
  const json = own.includes('--json');

  if (word === undefined) {
    if (own.includes('--version')) return { kind: 'version', json };
    if (own.includes('--help') || own.includes('-h')) return { kind: 'help', json };
    throw new UsageError('Expected a command');
  }
  if (!isCommand(word)) throw new UsageError(`Unknown command \`${word}\``);
  const command = word;
  const spec = COMMANDS[command];
  const allowed: OptionName[] = [...spec.options, 'help', 'version'];
  const config = Object.fromEntries(
    allowed.map((name) => {
      const o: { type: 'string' | 'boolean'; short?: string } = OPTIONS[name];
      return [name, { type: o.type, ...(o.short && { short: o.short }) }];
    }),
  );
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: own.filter((_, i) => i !== first),
      options: config,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(explainParseError(error, command), command);
  }
  const values = parsed.values as Values;
  if (values.help) return { kind: 'help', command, json };
  if (values.version) return { kind: 'version', json };
  if (command === 'help') {
    const [topic, ...extra] = parsed.positionals;
    if (extra.length > 0) throw new UsageError(`Unexpected \`${extra[0]}\``, command);
    if (topic === undefined) return { kind: 'help', json };
    if (!isCommand(topic)) throw new UsageError(`Unknown command \`${topic}\``, command);
    return { kind: 'help', command: topic, json };
  }
  const positionals = parsed.positionals;
  const takes: readonly string[] = 'positionals' in spec ? spec.positionals : [];
  if (takes.length === 0 && positionals.length > 0) {
    throw new UsageError(`Unexpected \`${positionals[0]}\``, command);
  }
  const extra: number = 'arguments' in spec ? spec.arguments : 0;
  if (takes.length > 0) {
    if (
      positionals.length < 1 ||
      positionals.length > 1 + extra ||
      !takes.includes(positionals[0]!)
    ) {
      throw new UsageError(
        `Expected one of ${takes.join(', ')}, got ${positionals.length === 0 ? 'nothing' : `\`${positionals.join(' ')}\``}`,
        command,
      );
    }
  }
  if ('dashdash' in spec && spec.dashdash) {
    if (rest.length === 0) {
      throw new UsageError(
        'Expected a QEMU command after `--`, e.g. `tapnet run -- qemu-system-x86_64 -m 512 …`',
        command,
      );
    }
  } else if (dashdash !== -1) {
    throw new UsageError(`\`tapnet ${command}\` takes nothing after \`--\``, command);
  }
  checkValues(values, command);
  return { kind: 'command', command, values, positionals, rest };
}

function explainParseError(error: unknown, command: CommandName): string {
  const message = error instanceof Error ? error.message : String(error);
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown) return `\`tapnet ${command}\` has no option \`${unknown[1]}\``;
  const missing = /Option '([^']+)' argument missing/.exec(message);
  if (missing)
    return `Expected a value after \`${missing[1]!.replace(/^-\w, /, '').replace(/ <value>$/, '')}\``;
  return message.split('\n')[0]!;
}

function checkValues(values: Values, command: CommandName): void {
  for (const name of [
    'size',
    'prefix-length',
    'connections',
    'packets-per-second',
    'pid',
  ] as const) {
    const raw = values[name];
    if (raw !== undefined && !/^\d+$/.test(raw)) {
      throw new UsageError(`Expected --${name} to be a whole number, got \`${raw}\``, command);
    }
  }
  for (const [name, choices] of Object.entries(CHOICES) as [OptionName, readonly string[]][]) {
    const raw = values[name];
    if (typeof raw === 'string' && !choices.includes(raw)) {
      throw new UsageError(
        `Expected --${name} to be ${choices.join(' or ')}, got \`${raw}\``,
        command,
      );
    }
  }
  for (const name of ['wait', 'ttl'] as const) {
    const raw = values[name];
    if (raw !== undefined && !/^\d+(\.\d+)?$/.test(raw)) {
      throw new UsageError(`Expected --${name} to be a number of seconds, got \`${raw}\``, command);
    }
  }
  if ((command === 'up' || command === 'serve') && values.size === undefined)
    throw new UsageError('Expected --size N', command);
  const limited = (['egress', 'ingress', 'packets-per-second'] as const).find(
    (name) => values[name] !== undefined,
  );
  if (limited && values.user) {
    throw new UsageError(`--${limited} needs a TAP network (tc), not --user`, command);
  }
  if (values['socket-folder'] !== undefined && !values.user) {
    throw new UsageError('--socket-folder goes with --user', command);
  }
}

/** A whole-number option, already checked by parseCommandLine. */
export function intValue(
  values: Values,
  name: 'size' | 'prefix-length' | 'connections' | 'packets-per-second' | 'pid',
): number | undefined {
  const raw = values[name];
  return raw === undefined ? undefined : Number(raw);
}
