import { describe, expect, it } from 'vitest';
import { parseCommandLine, UsageError } from './parse.js';
import { COMMANDS, commandHelp, globalHelp } from './spec.js';

describe('parseCommandLine', () => {
  it('reads a command, its options and the words after --', () => {
    expect(parseCommandLine(['run', '--model', 'e1000', '--', 'qemu', '-m', '512'])).toEqual({
      kind: 'command',
      command: 'run',
      values: { model: 'e1000' },
      positionals: [],
      rest: ['qemu', '-m', '512'],
    });
  });

  it('reads `net release NAME` and the daemon options', () => {
    expect(parseCommandLine(['net', 'release', 'tn3', '--socket', '/s'])).toEqual({
      kind: 'command',
      command: 'net',
      values: { socket: '/s' },
      positionals: ['release', 'tn3'],
      rest: [],
    });
    expect(parseCommandLine(['net', 'acquire', '--ttl', '1.5', '--pid', '42']).kind).toBe(
      'command',
    );
    expect(
      parseCommandLine(['serve', '--size', '2', '--log-format', 'json', '--group', 'tapnet']).kind,
    ).toBe('command');
  });

  it.each([
    [['--version'], { kind: 'version', json: false }],
    [['--help'], { kind: 'help', json: false }],
    [['-h'], { kind: 'help', json: false }],
    [['up', '--help'], { kind: 'help', command: 'up', json: false }],
    [['help', 'up'], { kind: 'help', command: 'up', json: false }],
    [['help'], { kind: 'help', json: false }],
    [['status', '--version', '--json'], { kind: 'version', json: true }],
  ])('%j is %j', (args, parsed) => {
    expect(parseCommandLine(args)).toEqual(parsed);
  });

  const usageErrors: [string[], RegExp, string | undefined][] = [
    [[], /Expected a command/, undefined],
    [['nope'], /Unknown command `nope`/, undefined],
    [['help', 'nope'], /Unknown command `nope`/, 'help'],
    [['status', '--bogus'], /`tapnet status` has no option `--bogus`/, 'status'],
    [['status', '--size', '2'], /`tapnet status` has no option `--size`/, 'status'],
    [['up'], /Expected --size N/, 'up'],
    [['serve'], /Expected --size N/, 'serve'],
    [['serve', '--size', '1', '--log-format', 'xml'], /--log-format to be text or json/, 'serve'],
    [['net'], /Expected one of list, acquire, release, got nothing/, 'net'],
    [['net', 'remove', 'tn0'], /Expected one of list, acquire, release/, 'net'],
    [['net', 'release', 'tn0', 'tn1'], /Expected one of list, acquire, release/, 'net'],
    [['net', 'acquire', '--wait', 'soon'], /--wait to be a number of seconds, got `soon`/, 'net'],
    [['net', 'acquire', '--pid', '4x'], /--pid to be a whole number, got `4x`/, 'net'],
    [['up', '--size', 'abc'], /Expected --size to be a whole number, got `abc`/, 'up'],
    [['up', '--size', '2', '--prefix-length', '2x'], /--prefix-length to be a whole number/, 'up'],
    [
      ['up', '--size', '2', '--firewall', 'pf'],
      /--firewall to be auto or nft or iptables, got `pf`/,
      'up',
    ],
    [['up', '--size'], /Expected a value after `--size`/, 'up'],
    [['up', '--size', '1', '--connections', 'many'], /--connections to be a whole number/, 'up'],
    [['up', '--size', '2', 'extra'], /Unexpected `extra`/, 'up'],
    [['run'], /Expected a QEMU command after `--`/, 'run'],
    [['run', '--model', 'rtl8139', '--', 'q'], /--model to be virtio-net-pci or e1000/, 'run'],
    [['run', '--socket-folder', '/x', '--', 'q'], /--socket-folder goes with --user/, 'run'],
    [['run', '--user', '--egress', '1mbit', '--', 'q'], /--egress needs a TAP network/, 'run'],
    [
      ['up', '--size', '1', '--packets-per-second', '1e3'],
      /--packets-per-second to be a whole number, got `1e3`/,
      'up',
    ],
    [['status', '--', 'x'], /takes nothing after `--`/, 'status'],
    [['completion'], /Expected one of bash, zsh, got nothing/, 'completion'],
    [['completion', 'fish'], /Expected one of bash, zsh, got `fish`/, 'completion'],
  ];
  it.each(usageErrors)('%j is a usage error: %s', (args, message, command) => {
    let caught: unknown;
    try {
      parseCommandLine(args);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    const error = caught as UsageError;
    expect(error.code).toBe('ERR_USAGE');
    expect(error.message).toMatch(message);
    expect(error.usage).toBe(
      command
        ? `Usage: tapnet ${command} ${COMMANDS[command as keyof typeof COMMANDS].synopsis}`
        : 'Usage: tapnet <command> [options] (tapnet --help)',
    );
  });
});

describe('help', () => {
  it('lists every command in the global help', () => {
    for (const name of Object.keys(COMMANDS)) expect(globalHelp()).toContain(`  ${name} `);
  });

  it('lists only the options a command takes in its own help', () => {
    const help = commandHelp('status');
    expect(help).toMatch(/^Usage: tapnet status \[--state-dir DIR\]/);
    expect(help).toContain('--state-dir DIR');
    expect(help).not.toContain('--size');
  });
});
