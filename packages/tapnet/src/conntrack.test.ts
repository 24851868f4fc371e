import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConntrackFlusher } from './conntrack.js';
import { ConntrackError } from './errors.js';

// A stand-in for the conntrack tool that logs its arguments: how many processes a burst of
// releases costs, without root.
const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function fakeConntrack(exitCode = 0, stderr = ''): { path: string; calls: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'tapnet-conntrack-'));
  made.push(dir);
  const log = join(dir, 'calls.log');
  const path = join(dir, 'conntrack');
  writeFileSync(path, `#!/bin/sh\necho "$*" >> '${log}'\necho '${stderr}' >&2\nexit ${exitCode}\n`);
  chmodSync(path, 0o755);
  return { path, calls: () => readFileSync(log, 'utf8').trim().split('\n') };
}

describe('ConntrackFlusher', () => {
  it('turns a burst of releases into one flush per network per pass', async () => {
    const fake = fakeConntrack();
    const errors: Error[] = [];
    const flusher = new ConntrackFlusher(fake.path, (e) => errors.push(e));
    for (let i = 0; i < 10_000; i++) flusher.flush('10.231.0.0', '255.255.255.0');
    flusher.flush('10.231.1.0', '255.255.255.0');
    await flusher.idle();
    const calls = fake.calls();
    expect(calls).toContain('-D -s 10.231.1.0 --mask-src 255.255.255.0');
    // The first pass starts at once; the releases after it coalesce into at most one more.
    expect(calls.filter((c) => c.includes('10.231.0.0')).length).toBeLessThanOrEqual(2);
    expect(calls.length).toBeLessThanOrEqual(3);
    expect(errors).toEqual([]);
  });

  it('takes "0 flow entries have been deleted" (exit 1) as done', async () => {
    const fake = fakeConntrack(
      1,
      'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.',
    );
    const errors: Error[] = [];
    const flusher = new ConntrackFlusher(fake.path, (e) => errors.push(e));
    flusher.flush('10.231.0.0', '255.255.255.0');
    await flusher.idle();
    expect(errors).toEqual([]);
  });

  it('reports a failure, or a binary that cannot start, as an error and keeps going', async () => {
    const errors: Error[] = [];
    const flusher = new ConntrackFlusher('/nonexistent/conntrack', (e) => errors.push(e));
    flusher.flush('10.231.0.0', '255.255.255.0');
    flusher.flush('10.231.1.0', '255.255.255.0');
    await flusher.idle();
    expect(errors).toHaveLength(2);
    expect(errors[0]?.message).toMatch(/conntrack -D -s 10\.231\.0\.0 --mask-src 255\.255\.255\.0/);
    // Typed: a binary that cannot start is exit 127, as from a shell.
    expect(errors[0]).toBeInstanceOf(ConntrackError);
    expect(errors[0]).toMatchObject({ code: 'ERR_CONNTRACK', exitCode: 127 });
  });

  it('quotes what the tool said, bounded, and keeps all of it on the error', async () => {
    const fake = fakeConntrack(
      2,
      'conntrack v1.4.7 (conntrack-tools): Operation failed: Permission denied',
    );
    const errors: Error[] = [];
    const flusher = new ConntrackFlusher(fake.path, (e) => errors.push(e));
    flusher.flush('10.231.0.0', '255.255.255.0');
    await flusher.idle();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      code: 'ERR_CONNTRACK',
      exitCode: 2,
      argv: [fake.path, '-D', '-s', '10.231.0.0', '--mask-src', '255.255.255.0'],
    });
    expect(errors[0]?.message).toContain(
      '(exit 2): conntrack v1.4.7 (conntrack-tools): Operation failed: Permission denied',
    );
  });
});
