import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  lstatSync,
  mkdtempSync,
  realpathSync,
  renameSync,
  rmSync,
  unlinkSync,
} from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { checkFolderChain, describeValue } from '@tapnet/internal';
import {
  type FetchHandler,
  type MetadataHandler,
  MetadataServer,
  type NetworkStats,
} from '@tapnet/metadata-proxy';
import { userNetdev } from '@tapnet/qemu-args';
import { type Bridge, bridgeCommand, findBridge, realLookup } from './bridge.js';
import {
  InvalidOptionError,
  ReleasedError,
  SocketInUseError,
  UnsafeFolderError,
} from './errors.js';
import { MAX_SOCKET_PATH_BYTES } from './folder.js';
import {
  type NormalizedUserNetworkOptions,
  normalizeOptions,
  type UserNetworkOptions,
} from './options.js';

/** The one network a user-mode instance serves: a socket per instance is the identity. */
export const USER_NETWORK_NAME = 'user';

function buildNetdev(id: string, o: NormalizedUserNetworkOptions, cmd: string[]): string {
  try {
    return userNetdev({
      id,
      net: o.net,
      restrict: o.restrict,
      guestfwd: [{ server: o.metadataIp, port: 80, cmd }],
    });
  } catch (error) {
    throw new InvalidOptionError((error as Error).message, { cause: error });
  }
}

/** Whether something accepts connections on a unix socket path (a live socket, not a stale one). */
function isLive(path: string): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen({ path, exclusive: true }, () => {
      server.off('error', fail);
      done();
    });
  });
}

/**
 * QEMU user-mode (slirp) networking for one instance, with the metadata service on a unix
 * socket of its own: slirp runs the bridge (`nc -U` or socat) per guest connection to
 * 169.254.169.254:80, so the socket is the guest's identity. No root needed.
 */
export class UserNetwork implements AsyncDisposable {
  /** Absolute path of the metadata socket (mode 0600). */
  readonly socketPath: string;
  /** The bridge argv slirp runs per guest connection. */
  readonly bridgeCommand: readonly string[];
  readonly #options: NormalizedUserNetworkOptions;
  readonly #server: MetadataServer;
  readonly #identity: { dev: number; ino: number };
  #released: Promise<void> | undefined;

  private constructor(
    socketPath: string,
    command: string[],
    options: NormalizedUserNetworkOptions,
    server: MetadataServer,
    identity: { dev: number; ino: number },
  ) {
    this.socketPath = socketPath;
    this.bridgeCommand = Object.freeze([...command]);
    this.#options = options;
    this.#server = server;
    this.#identity = identity;
  }

  /**
   * Starts the socket server in `socketFolder` (which must exist and be writable by nobody but
   * us, our group or root). Bad input, no bridge or an unsafe folder → typed error and nothing
   * created; a failure half-way removes what was made.
   */
  static async create(socketFolder: string, options?: UserNetworkOptions): Promise<UserNetwork> {
    const o = normalizeOptions(options);
    if (typeof socketFolder !== 'string' || socketFolder === '' || socketFolder.includes('\0')) {
      throw new InvalidOptionError(
        `Expected \`socketFolder\` to be a folder path, got ${describeValue(socketFolder)}`,
      );
    }
    const bridge: Bridge = findBridge(o.bridge, realLookup(o.searchPath));
    let folder: string;
    try {
      folder = realpathSync(resolve(socketFolder));
    } catch (error) {
      throw new UnsafeFolderError(`Expected \`socketFolder\` to exist, got \`${socketFolder}\``, {
        cause: error,
      });
    }
    // The folder and every folder above it: through a writable parent that is not sticky,
    // another user could rename the folder away and put one with their own socket in its place.
    const identity = { uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 };
    const problem = checkFolderChain(resolve(socketFolder), identity);
    if (problem) {
      throw new UnsafeFolderError(
        `Expected a socket folder only we can write to, but \`${problem.path}\`${problem.path === folder ? '' : ` (above \`${folder}\`)`}: ${problem.reason}`,
      );
    }
    const name = o.socketName ?? `metadata-${randomBytes(8).toString('hex')}.sock`;
    const socketPath = join(folder, name);
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
      throw new InvalidOptionError(
        `Expected a socket path of at most ${MAX_SOCKET_PATH_BYTES} bytes, got \`${socketPath}\` (${Buffer.byteLength(socketPath)} bytes); use a shorter folder`,
      );
    }
    const command = bridgeCommand(bridge, socketPath);
    // Validates net/metadataIp/restrict before anything is created.
    buildNetdev('probe', o, command);

    let existing: ReturnType<typeof lstatSync> | undefined;
    try {
      existing = lstatSync(socketPath);
    } catch {
      existing = undefined;
    }
    if (existing) {
      if (!existing.isSocket()) {
        throw new SocketInUseError(
          `Expected \`${socketPath}\` to be free or a stale socket, got a file that is not a socket`,
        );
      }
      if (await isLive(socketPath)) {
        throw new SocketInUseError(
          `Expected \`${socketPath}\` to be free or a stale socket, got one that accepts connections`,
        );
      }
    }

    // Bind in a private 0700 folder, set 0600, then rename into place: the socket is never
    // reachable with looser permissions, and a stale socket is replaced atomically.
    const undo: (() => void)[] = [];
    const listener = createServer();
    try {
      const staging = mkdtempSync(join(folder, '.tapnet-'));
      undo.push(() => rmSync(staging, { recursive: true, force: true }));
      const stagedPath = join(staging, 's');
      await listen(listener, stagedPath);
      undo.push(() => listener.close());
      chmodSync(stagedPath, 0o600);
      renameSync(stagedPath, socketPath);
      const stats = lstatSync(socketPath);
      const identity = { dev: stats.dev, ino: stats.ino };
      undo.push(() => removeIfOurs(socketPath, identity));
      rmSync(staging, { recursive: true, force: true });
      const server = await MetadataServer.create({
        listener,
        singleNetwork: USER_NETWORK_NAME,
        ...(o.hardeningInput === undefined ? {} : { hardening: o.hardeningInput }),
      });
      return new UserNetwork(socketPath, command, o, server, identity);
    } catch (error) {
      for (const step of undo.reverse()) {
        try {
          step();
        } catch {
          // keep undoing; the first error is what the caller needs
        }
      }
      throw error;
    }
  }

  #assertLive(): void {
    if (this.#released)
      throw new ReleasedError('Expected a live user network, got one that was released');
  }

  /**
   * The QEMU `-netdev` value: `user,id=<id>,net=169.254.0.0/16[,restrict=on],guestfwd=tcp:
   * 169.254.169.254:80-cmd:<bridge> ...`, escaped for QEMU's option syntax and slirp's splitting.
   */
  netdev(id: string): string {
    this.#assertLive();
    return buildNetdev(id, this.#options, [...this.bridgeCommand]);
  }

  /** Sets the handler that answers the guest (see @tapnet/metadata-proxy for kinds). */
  setHandler(handler: FetchHandler): void;
  setHandler(handler: MetadataHandler): void;
  setHandler(handler: MetadataHandler): void {
    this.#assertLive();
    this.#server.setHandler(USER_NETWORK_NAME, handler);
  }

  /** Drops the handler and cuts the guest's open connections (404 until a new handler). */
  clear(): void {
    this.#assertLive();
    this.#server.clear(USER_NETWORK_NAME);
  }

  stats(): NetworkStats {
    return this.#server.stats()[USER_NETWORK_NAME]!;
  }

  /** Removes the socket and stops the server; idempotent (later calls share the first's promise). */
  release(): Promise<void> {
    if (!this.#released) {
      this.#released = (async () => {
        removeIfOurs(this.socketPath, this.#identity);
        await this.#server.close({ deadlineMs: 1_000 });
      })();
    }
    return this.#released;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

/** Unlinks the socket unless someone replaced it since (then it is theirs). */
function removeIfOurs(path: string, identity: { dev: number; ino: number }): void {
  try {
    const stats = lstatSync(path);
    if (stats.dev === identity.dev && stats.ino === identity.ino) unlinkSync(path);
  } catch {
    // already gone
  }
}
