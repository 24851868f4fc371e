import { describe, expect, it } from 'vitest';
import { type BridgeLookup, bridgeCommand, findBridge } from './bridge.js';
import { BridgeNotFoundError, InvalidOptionError } from './errors.js';

function lookup(
  files: Record<string, string>,
  searchPath = '/usr/local/bin:/usr/bin:/bin',
): BridgeLookup {
  return {
    searchPath,
    isExecutable: (path) => path in files,
    realpath: (path) => files[path] ?? path,
  };
}

describe('findBridge', () => {
  it.each([
    [
      'auto prefers nc.openbsd',
      'auto',
      { '/bin/nc.openbsd': '/bin/nc.openbsd', '/usr/bin/socat': '/usr/bin/socat' },
      { kind: 'nc', path: '/bin/nc.openbsd' },
    ],
    [
      'auto takes an nc that resolves to OpenBSD netcat',
      'auto',
      { '/usr/bin/nc': '/bin/nc.openbsd' },
      { kind: 'nc', path: '/usr/bin/nc' },
    ],
    [
      'auto skips another nc for socat',
      'auto',
      { '/usr/bin/nc': '/bin/nc.traditional', '/usr/bin/socat': '/usr/bin/socat' },
      { kind: 'socat', path: '/usr/bin/socat' },
    ],
    [
      'nc takes the first nc on PATH',
      'nc',
      { '/usr/local/bin/nc': '/x/nc', '/usr/bin/nc': '/bin/nc.openbsd' },
      { kind: 'nc', path: '/usr/local/bin/nc' },
    ],
    [
      'socat takes socat',
      'socat',
      { '/bin/nc.openbsd': '/bin/nc.openbsd', '/usr/bin/socat': '/usr/bin/socat' },
      { kind: 'socat', path: '/usr/bin/socat' },
    ],
  ] as const)('%s', (_name, choice, files, expected) => {
    expect(findBridge(choice, lookup(files))).toEqual(expected);
  });

  it('ignores relative PATH entries', () => {
    expect(() => findBridge('nc', lookup({ 'bin/nc': 'bin/nc' }, 'bin'))).toThrow(
      BridgeNotFoundError,
    );
  });

  it('says what it looked for when there is none', () => {
    expect(() =>
      findBridge('auto', lookup({ '/usr/bin/nc': '/bin/nc.traditional' }, '/usr/bin')),
    ).toThrow(
      'Expected a bridge to the metadata socket on PATH, found none of nc.openbsd, nc (/usr/bin/nc: not OpenBSD netcat, which -U needs), socat; install netcat-openbsd or socat (PATH=/usr/bin)',
    );
  });
});

describe('bridgeCommand', () => {
  it('builds argv for nc and socat', () => {
    expect(bridgeCommand({ kind: 'nc', path: '/bin/nc.openbsd' }, '/run/a b,c/m.sock')).toEqual([
      '/bin/nc.openbsd',
      '-U',
      '/run/a b,c/m.sock',
    ]);
    expect(bridgeCommand({ kind: 'socat', path: '/usr/bin/socat' }, '/run/x/m.sock')).toEqual([
      '/usr/bin/socat',
      '-',
      'UNIX-CONNECT:/run/x/m.sock',
    ]);
  });

  it.each(['/run/a b/m.sock', '/run/a,b/m.sock', '/run/a:b/m.sock', "/run/a'b/m.sock"])(
    'refuses a socat address it would misread: %s',
    (path) => {
      expect(() => bridgeCommand({ kind: 'socat', path: '/usr/bin/socat' }, path)).toThrow(
        InvalidOptionError,
      );
    },
  );
});
