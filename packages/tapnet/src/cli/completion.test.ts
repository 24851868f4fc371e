import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bashCompletion, zshCompletion } from './completion.js';

/** Runs a shell with the script loaded and prints what completing `words` offers. */
function completeBash(words: string[]): string[] {
  const script = `${bashCompletion()}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_tapnet; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['-c', script], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

describe('bash completion', () => {
  it('offers the commands first', () => {
    expect(completeBash(['tapnet', ''])).toEqual(
      expect.arrayContaining(['doctor', 'up', 'run', 'status', 'cleanup', 'completion', 'help']),
    );
  });

  it('offers a command’s own options', () => {
    const offered = completeBash(['tapnet', 'status', '--']);
    expect(offered).toEqual(['--state-dir', '--socket', '--json', '--help']);
  });

  it('offers the choices of an option with a fixed set', () => {
    expect(completeBash(['tapnet', 'up', '--firewall', ''])).toEqual(['auto', 'nft', 'iptables']);
  });

  it('offers nothing after `--` (QEMU’s arguments are QEMU’s)', () => {
    expect(completeBash(['tapnet', 'run', '--', 'qemu', ''])).toEqual([]);
  });
});

describe('zsh completion', () => {
  it.skipIf(!existsSync('/usr/bin/zsh') && !existsSync('/bin/zsh'))('parses in zsh', () => {
    execFileSync('zsh', ['-n', '-c', zshCompletion()]);
  });

  it('names every command with its summary', () => {
    expect(zshCompletion()).toContain(
      "'run:run QEMU with a network of its own, released when QEMU exits'",
    );
    expect(zshCompletion()).toContain(
      "'--firewall=[the firewall backend]:firewall:(auto nft iptables)'",
    );
  });
});
