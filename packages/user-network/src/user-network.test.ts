import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeHandler } from '@tapnet/metadata-proxy';
import { parseNetdev } from '@tapnet/qemu-args';
import { waitFor } from '@tapnet/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BridgeNotFoundError,
  InvalidOptionError,
  ReleasedError,
  SocketInUseError,
  UnsafeFolderError,
  UserNetworkError,
} from './errors.js';
import { UserNetwork } from './user-network.js';

// Unix sockets in private temporary folders only: nothing on the network changes.
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function folder(name = 'un-'): string {
  const dir = mkdtempSync(join(tmpdir(), name));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function created(dir: string, options?: Parameters<typeof UserNetwork.create>[1]) {
  const network = await UserNetwork.create(dir, options);
  cleanup.push(() => network.release());
  return network;
}

function get(
  socketPath: string,
  path = '/latest/meta-data',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, path, headers: { host: '169.254.169.254', connection: 'close' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Runs the bridge argv the way slirp would (no shell) with one HTTP request on stdin. */
function throughBridge(argv: readonly string[], path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (c: string) => (out += c));
    child.on('error', reject);
    child.on('close', () => resolve(out));
    child.stdin.write(`GET ${path} HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n`);
  });
}

const has = (name: string) => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;

describe('UserNetwork', () => {
  it('serves the guest over a 0600 socket with a random name: 404 without handler, then the handler', async () => {
    const dir = folder();
    const network = await created(dir);
    expect(network.socketPath).toMatch(new RegExp(`^${dir}/metadata-[0-9a-f]{16}\\.sock$`));
    expect(statSync(network.socketPath).mode & 0o777).toBe(0o600);
    expect(statSync(network.socketPath).isSocket()).toBe(true);
    expect(readdirSync(dir)).toEqual([network.socketPath.slice(dir.length + 1)]);
    expect(await get(network.socketPath)).toEqual({
      status: 404,
      body: 'Not Found: no handler for this network\n',
    });
    network.setHandler(
      (request, ctx) => new Response(`${new URL(request.url).pathname} for ${ctx.network}`),
    );
    expect(await get(network.socketPath)).toEqual({
      status: 200,
      body: '/latest/meta-data for user',
    });
    expect(network.stats().requests).toEqual({ '2xx': 1, '3xx': 0, '4xx': 1, '5xx': 0 });
  });

  it.each([
    ['plain', 'plain'],
    ['awkward', 'a b,c,,d \'q\' "dq" $x;'],
  ])(
    'builds a netdev that round-trips through the qemu-args parser and whose bridge reaches the socket (%s folder)',
    async (_kind, name) => {
      const parent = folder();
      const dir = join(parent, name);
      mkdirSync(dir, { mode: 0o700 });
      const network = await created(dir, { bridge: 'nc', restrict: true });
      expect(network.bridgeCommand.slice(1)).toEqual(['-U', network.socketPath]);
      network.setHandler(nodeHandler((req, res) => res.end(`bridged ${req.url}`)));
      const netdev = network.netdev('net0');
      expect(
        netdev.startsWith(
          'user,id=net0,net=169.254.0.0/16,restrict=on,guestfwd=tcp:169.254.169.254:80-cmd:',
        ),
      ).toBe(true);
      const parsed = parseNetdev(netdev);
      expect(parsed).toMatchObject({
        type: 'user',
        id: 'net0',
        net: '169.254.0.0/16',
        restrict: true,
        guestfwd: [{ server: '169.254.169.254', port: 80, cmd: [...network.bridgeCommand] }],
      });
      const cmd = (parsed as unknown as { guestfwd: { cmd: string[] }[] }).guestfwd[0]!.cmd;
      expect(await throughBridge(cmd, '/x')).toMatch(
        /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nbridged \/x$/,
      );
    },
  );

  it.runIf(has('socat'))('bridges through socat when asked', async () => {
    const network = await created(folder(), { bridge: 'socat' });
    network.setHandler(() => new Response('via socat'));
    const cmd = (parseNetdev(network.netdev('n')) as unknown as { guestfwd: { cmd: string[] }[] })
      .guestfwd[0]!.cmd;
    expect(cmd.slice(1)).toEqual(['-', `UNIX-CONNECT:${network.socketPath}`]);
    expect(await throughBridge(cmd, '/')).toMatch(/via socat$/);
  });

  it('replaces a stale socket at its path, refuses a live one or another file', async () => {
    const dir = folder();
    const stale = join(dir, 'm.sock');
    // A socket whose server died without removing it.
    const died = spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect(died.signal).toBe('SIGKILL');
    expect(statSync(stale).isSocket()).toBe(true);
    const network = await created(dir, { socketName: 'm.sock' });
    network.setHandler(() => new Response('fresh'));
    expect((await get(stale)).body).toBe('fresh');
    await expect(UserNetwork.create(dir, { socketName: 'm.sock' })).rejects.toThrow(
      SocketInUseError,
    );
    expect((await get(stale)).body).toBe('fresh');
    writeFileSync(join(dir, 'file'), 'x');
    await expect(UserNetwork.create(dir, { socketName: 'file' })).rejects.toThrow(SocketInUseError);
  });

  // Every folder above the socket's is checked too: through a writable parent, another user
  // could rename the socket folder away and put one with their own socket in its place. Root
  // can make folders of `nobody` (65534) and open ones to simulate the other user.
  describe.skipIf(process.geteuid?.() !== 0)('folders above the socket folder', () => {
    const below = (parentMode: number, owner?: number) => {
      const parent = join(folder(), 'parent');
      mkdirSync(join(parent, 'sockets'), { recursive: true, mode: 0o700 });
      chmodSync(parent, parentMode);
      if (owner !== undefined) chownSync(parent, owner, owner);
      return { parent, dir: join(parent, 'sockets') };
    };

    it('refuses a private folder below a writable, non-sticky parent, naming the parent', async () => {
      const { parent, dir } = below(0o777);
      const error = await UserNetwork.create(dir).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnsafeFolderError);
      expect((error as Error).message).toBe(
        `Expected a socket folder only we can write to, but \`${parent}\` (above \`${dir}\`): it is writable by others (mode 0777)`,
      );
      expect(readdirSync(dir)).toEqual([]);
    });

    it("refuses a private folder below another user's parent", async () => {
      const { dir } = below(0o755, 65534);
      await expect(UserNetwork.create(dir)).rejects.toThrow(
        /owned by uid 65534, not by root or us/,
      );
      expect(readdirSync(dir)).toEqual([]);
    });

    it("refuses a folder of another user's below a sticky parent", async () => {
      const { dir } = below(0o1777);
      chownSync(dir, 65534, 65534);
      await expect(UserNetwork.create(dir)).rejects.toThrow(UnsafeFolderError);
    });

    it('accepts a private folder of ours below a sticky /tmp-style parent', async () => {
      const { dir } = below(0o1777);
      const network = await created(dir);
      network.setHandler(() => new Response('ours'));
      expect((await get(network.socketPath)).body).toBe('ours');
    });
  });

  it('refuses unsafe or missing folders, a missing bridge and bad options, creating nothing', async () => {
    const open = folder();
    chmodSync(open, 0o777);
    await expect(UserNetwork.create(open)).rejects.toThrow(UnsafeFolderError);
    const group = folder();
    chmodSync(group, 0o770);
    if (process.getuid?.() === 0) {
      chownSync(group, 0, 54321);
      await expect(UserNetwork.create(group)).rejects.toThrow(/writable by group 54321/);
    }
    await expect(UserNetwork.create(join(open, 'missing'))).rejects.toThrow(UnsafeFolderError);
    const dir = folder();
    await expect(UserNetwork.create(dir, { searchPath: '/nonexistent' })).rejects.toThrow(
      BridgeNotFoundError,
    );
    await expect(UserNetwork.create(dir, { bridge: 'telnet' as never })).rejects.toThrow(
      "Expected `bridge` to be 'auto', 'nc' or 'socat', got `\"telnet\"` (string)",
    );
    await expect(UserNetwork.create(dir, { metadataIp: '10.0.0.1' })).rejects.toThrow(
      InvalidOptionError,
    );
    await expect(UserNetwork.create(dir, { hardening: { maxBodyBytes: -1 } })).rejects.toThrow(
      'Expected `hardening.maxBodyBytes` to be an integer from 0 to 1073741824, got `-1` (number)',
    );
    await expect(UserNetwork.create(dir, { socketName: 'a/b' })).rejects.toThrow(
      InvalidOptionError,
    );
    await expect(UserNetwork.create(join(dir, 'x'.repeat(120)))).rejects.toThrow(UnsafeFolderError);
    expect([readdirSync(open), readdirSync(group), readdirSync(dir)]).toEqual([[], [], []]);
    const error = await UserNetwork.create(dir, { searchPath: '' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserNetworkError);
    expect((error as UserNetworkError).code).toBe('ERR_BRIDGE_NOT_FOUND');
  });

  it('applies hardening on the socket: oversized heads get 431, the next request is served', async () => {
    const network = await created(folder());
    network.setHandler(() => new Response('ok'));
    const answer = await new Promise<string>((resolve) => {
      const socket = connect({ path: network.socketPath });
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (c: string) => (text += c));
      socket.on('close', () => resolve(text));
      socket.write(`GET / HTTP/1.1\r\nHost: m\r\nX-Big: ${'a'.repeat(9000)}\r\n\r\n`);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect((await get(network.socketPath)).body).toBe('ok');
  });

  it('clear() cuts the guest keep-alive connection', async () => {
    const network = await created(folder());
    network.setHandler(() => new Response('old'));
    const socket = connect({ path: network.socketPath });
    let text = '';
    let closed = false;
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('close', () => (closed = true));
    socket.write('GET / HTTP/1.1\r\nHost: m\r\n\r\n');
    await waitFor(() => text.endsWith('old'), { what: 'the first response', seen: () => text });
    network.clear();
    await waitFor(() => closed, { what: 'the connection to be cut' });
    expect(await get(network.socketPath)).toMatchObject({ status: 404 });
  });

  it('release() is idempotent, removes the socket, and later use is a typed error', async () => {
    const dir = folder();
    const network = await UserNetwork.create(dir);
    const first = network.release();
    expect(network.release()).toBe(first);
    await first;
    await network.release();
    expect(existsSync(network.socketPath)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
    expect(() => network.setHandler(() => new Response(''))).toThrow(ReleasedError);
    expect(() => network.netdev('n')).toThrow(
      'Expected a live user network, got one that was released',
    );
  });

  it('works with await using', async () => {
    const dir = folder();
    let path = '';
    {
      await using network = await UserNetwork.create(dir);
      path = network.socketPath;
      expect(existsSync(path)).toBe(true);
    }
    expect(existsSync(path)).toBe(false);
  });
});
