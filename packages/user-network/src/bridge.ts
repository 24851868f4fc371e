import { realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { isExecutableFile, which as whichOnPath } from '@tapnet/internal';
import { BridgeNotFoundError, InvalidOptionError } from './errors.js';

export type BridgeChoice = 'auto' | 'nc' | 'socat';

/** The program slirp runs per guest connection to reach the metadata socket. */
export interface Bridge {
  kind: 'nc' | 'socat';
  /** Absolute path of the binary. */
  path: string;
}

/** What `findBridge` needs from the file system; injectable for tests. */
export interface BridgeLookup {
  /** The PATH to search. */
  searchPath: string;
  isExecutable(path: string): boolean;
  realpath(path: string): string;
}

export const realLookup = (searchPath = process.env.PATH ?? ''): BridgeLookup => ({
  searchPath,
  isExecutable: isExecutableFile,
  realpath: (path) => realpathSync(path),
});

function which(name: string, lookup: BridgeLookup): string | undefined {
  return whichOnPath(name, { searchPath: lookup.searchPath, isExecutable: lookup.isExecutable });
}

/**
 * Finds the bridge on PATH. `auto` takes OpenBSD netcat (the one with `-U`: `nc.openbsd`, or an
 * `nc` that resolves to it), then `socat`. `nc` takes whatever `nc` is first on PATH (the caller
 * vouches for `-U`); `socat` takes socat.
 */
export function findBridge(choice: BridgeChoice, lookup: BridgeLookup): Bridge {
  const tried: string[] = [];
  if (choice === 'nc') {
    const nc = which('nc', lookup);
    if (nc) return { kind: 'nc', path: nc };
    tried.push('nc');
  } else if (choice === 'socat') {
    const socat = which('socat', lookup);
    if (socat) return { kind: 'socat', path: socat };
    tried.push('socat');
  } else {
    const openbsd = which('nc.openbsd', lookup);
    if (openbsd) return { kind: 'nc', path: openbsd };
    const nc = which('nc', lookup);
    if (nc) {
      let target = nc;
      try {
        target = lookup.realpath(nc);
      } catch {
        // keep the name found
      }
      if (basename(target).includes('openbsd')) return { kind: 'nc', path: nc };
    }
    const socat = which('socat', lookup);
    if (socat) return { kind: 'socat', path: socat };
    tried.push('nc.openbsd', nc ? `nc (${nc}: not OpenBSD netcat, which -U needs)` : 'nc', 'socat');
  }
  throw new BridgeNotFoundError(
    `Expected a bridge to the metadata socket on PATH, found none of ${tried.join(', ')}; install netcat-openbsd or socat (PATH=${lookup.searchPath})`,
  );
}

// socat parses its address text: these would be read as separators or quoting.
const SOCAT_UNSAFE = /[\s,:!"'\\]/;

/** argv slirp runs per guest connection: connects stdin/stdout to the unix socket. */
export function bridgeCommand(bridge: Bridge, socketPath: string): string[] {
  if (bridge.kind === 'nc') return [bridge.path, '-U', socketPath];
  if (SOCAT_UNSAFE.test(socketPath)) {
    throw new InvalidOptionError(
      `Expected a socket path socat can address (no spaces, \`,\`, \`:\`, \`!\`, quotes or backslashes), got \`${socketPath}\`; use bridge 'nc'`,
    );
  }
  return [bridge.path, '-', `UNIX-CONNECT:${socketPath}`];
}
