import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import {
  countingRunner,
  createRunner,
  EXIT_NOT_STARTED,
  EXIT_TIMED_OUT,
  exitCodeOf,
  recordingRunner,
  runChecked,
} from './run.js';

describe('exitCodeOf', () => {
  it.each([
    ['its own code', { exitCode: 3, failed: true }, 3],
    ['success', { exitCode: 0, failed: false }, 0],
    ['a timeout', { exitCode: undefined, signal: 'SIGTERM', timedOut: true, failed: true }, 124],
    ['a signal, as a shell says it', { exitCode: undefined, signal: 'SIGKILL', failed: true }, 137],
    ['a command that never started', { exitCode: undefined, failed: true }, 127],
  ])('maps %s', (_, outcome, code) => {
    expect(exitCodeOf(outcome)).toBe(code);
  });
});

describe('createRunner(execa) (real processes)', () => {
  const defaultRunner = createRunner(execa);

  it('passes stdin and argv without a shell, and keeps the output as is', async () => {
    const result = await defaultRunner(
      ['sh', '-c', 'cat; echo "$1" >&2; exit 3', 'sh', '$HOME;x'],
      {
        input: 'in\n',
      },
    );
    expect(result).toEqual({ stdout: 'in\n', stderr: '$HOME;x\n', exitCode: 3 });
  });

  it('reports a missing binary as 127 with the reason on stderr', async () => {
    const result = await defaultRunner(['/nonexistent/tapnet-no-such-tool', 'x']);
    expect(result.exitCode).toBe(EXIT_NOT_STARTED);
    expect(result.stderr).toMatch(/ENOENT/);
  });

  it('kills a command at the timeout and reports 124', async () => {
    const result = await createRunner(execa, { timeoutMs: 200 })(['sleep', '30']);
    expect(result.exitCode).toBe(EXIT_TIMED_OUT);
    expect(result.stderr).toMatch(/timed out/i);
  });

  it('refuses an empty argv', async () => {
    await expect(defaultRunner([])).rejects.toThrow(TypeError);
  });
});

describe('counting and recording runners', () => {
  it('counts the processes started through it', async () => {
    const recorded = recordingRunner();
    const counted = countingRunner(recorded.runner);
    await counted.runner(['a']);
    await counted.runner(['b'], { input: 'x' });
    expect(counted.count()).toBe(2);
    expect(recorded.calls).toEqual([
      { argv: ['a'], input: undefined },
      { argv: ['b'], input: 'x' },
    ]);
  });

  it('answers from the given function', async () => {
    const { runner } = recordingRunner(({ argv }) =>
      argv[0] === 'fail' ? { exitCode: 2, stderr: 'no' } : { stdout: 'ok' },
    );
    expect(await runner(['fine'])).toEqual({ stdout: 'ok', stderr: '', exitCode: 0 });
    expect(await runner(['fail'])).toEqual({ stdout: '', stderr: 'no', exitCode: 2 });
  });
});

describe('runChecked', () => {
  const { runner } = recordingRunner(({ argv }) =>
    argv[0] === 'fail' ? { exitCode: 2, stderr: 'bad\n' } : { stdout: 'out' },
  );

  it('returns stdout on exit 0', async () => {
    expect(await runChecked(runner, ['ok'], undefined, () => new Error('unused'))).toBe('out');
  });

  it("throws the caller's error built from the result", async () => {
    class CommandFailed extends Error {}
    await expect(
      runChecked(
        runner,
        ['fail'],
        'stdin',
        (r) => new CommandFailed(`exit ${r.exitCode}: ${r.stderr}`),
      ),
    ).rejects.toThrow(new CommandFailed('exit 2: bad\n'));
  });
});
