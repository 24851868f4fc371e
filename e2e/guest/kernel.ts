// The guests' kernel: the Debian kernel package `linux-image-amd64` points at, downloaded and
// unpacked once per version under .cache/guest/, and the NIC modules taken from it.
import { createHash } from 'node:crypto';
import {
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { exists, GuestBuildError, guestCacheDir, out } from './common.ts';

/** NIC drivers, in load order (`modinfo -F depends`): e1000 alone, then the virtio-net chain. */
export const guestModules = [
  'e1000',
  'virtio_ring',
  'virtio',
  'virtio_pci_modern_dev',
  'virtio_pci_legacy_dev',
  'virtio_pci',
  'failover',
  'net_failover',
  'virtio_net',
] as const;

/** Names, sizes and mtimes of apt's package lists: what `apt-cache` answers from. */
async function aptListsStamp(): Promise<string> {
  const dir = '/var/lib/apt/lists';
  const names = (await readdir(dir).catch(() => [] as string[])).sort();
  const parts: string[] = [];
  for (const name of names) {
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info?.isFile()) parts.push(`${name}:${info.size}:${info.mtimeMs}`);
  }
  return createHash('sha256').update(parts.join('\n')).digest('hex');
}

/**
 * The versioned kernel package that `linux-image-amd64` depends on, and its version. apt-cache
 * takes about a second per call here (no pkgcache.bin), so the answer is kept until apt's lists
 * change.
 */
export async function resolveKernelPackage(): Promise<{ name: string; version: string }> {
  const memo = join(guestCacheDir, 'kernel-package.json');
  const stamp = await aptListsStamp();
  const known = await readFile(memo, 'utf8').then(
    (text) => JSON.parse(text) as { stamp: string; name: string; version: string },
    () => undefined,
  );
  if (known?.stamp === stamp) return { name: known.name, version: known.version };
  const resolved = await queryKernelPackage();
  await writeFile(memo, `${JSON.stringify({ stamp: await aptListsStamp(), ...resolved })}\n`);
  return resolved;
}

async function queryKernelPackage(): Promise<{ name: string; version: string }> {
  const find = async () => {
    const depends = await out('apt-cache', ['depends', 'linux-image-amd64']).catch(() => '');
    return /Depends:\s*(linux-image-\S+)/.exec(depends)?.[1];
  };
  let name = await find();
  if (!name) {
    await out('apt-get', ['update', '-qq']);
    name = await find();
  }
  if (!name)
    throw new GuestBuildError('`apt-cache depends linux-image-amd64` names no kernel package');
  const show = await out('apt-cache', ['show', '--no-all-versions', name]);
  const version = /^Version:\s*(\S+)/m.exec(show)?.[1];
  if (!version) throw new GuestBuildError(`\`apt-cache show ${name}\` gives no Version`);
  return { name, version };
}

/** Downloads and unpacks the kernel package once per name+version; returns the unpacked root. */
export async function ensureKernelTree(pkg: { name: string; version: string }): Promise<string> {
  const tree = join(guestCacheDir, 'kernel', `${pkg.name}_${pkg.version}`);
  if (await exists(join(tree, '.complete'))) return tree;
  const work = await mkdtemp(join(guestCacheDir, 'kernel-tmp-'));
  try {
    // apt's download sandbox user cannot write here; root can, and nothing is executed.
    await out(
      'apt-get',
      ['download', '-q', '-o', 'APT::Sandbox::User=root', `${pkg.name}=${pkg.version}`],
      {
        cwd: work,
      },
    ).catch((error: unknown) => {
      throw new GuestBuildError(
        `could not download the guest kernel ${pkg.name}=${pkg.version} (needs a Debian mirror; ` +
          `\`./tapnet.sh setup\` builds the guest before tests run): ${String(error)}`,
        { cause: error },
      );
    });
    const deb = (await readdir(work)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new GuestBuildError(`apt-get download ${pkg.name} left no .deb`);
    const unpacked = join(work, 'root');
    await out('dpkg-deb', ['-x', join(work, deb), unpacked]);
    await writeFile(join(unpacked, '.complete'), `${pkg.name} ${pkg.version}\n`);
    await rm(tree, { recursive: true, force: true });
    await mkdir(dirname(tree), { recursive: true });
    await rename(unpacked, tree);
    return tree;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function findFiles(dir: string, match: (name: string) => boolean): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && match(e.name)).map((e) => join(e.parentPath, e.name));
}

/** Kernel image and release (`6.1.0-56-amd64`) inside an unpacked kernel package. */
export async function findKernel(tree: string): Promise<{ kernel: string; release: string }> {
  const boot = join(tree, 'boot');
  const name = (await readdir(boot)).find((f) => f.startsWith('vmlinuz-'));
  if (!name) throw new GuestBuildError(`no boot/vmlinuz-* in ${tree}`);
  return { kernel: join(boot, name), release: name.slice('vmlinuz-'.length) };
}

/** Copies one module to `dest` as a plain .ko, decompressing .ko.xz / .ko.zst / .ko.gz. */
export async function copyModule(
  tree: string,
  release: string,
  module: string,
  dest: string,
): Promise<void> {
  const root = join(tree, 'lib/modules', release, 'kernel');
  const candidates = await findFiles(
    root,
    (n) => /^(.+)\.ko(\.xz|\.zst|\.gz)?$/.exec(n)?.[1] === module,
  );
  const source = candidates[0];
  if (!source) throw new GuestBuildError(`module ${module}.ko not found under ${root}`);
  if (source.endsWith('.ko')) {
    await copyFile(source, dest);
    return;
  }
  const tool = source.endsWith('.xz') ? 'xz' : source.endsWith('.zst') ? 'zstd' : 'gzip';
  const child = execa(tool, ['-dc', source], {
    stdout: { file: dest },
    stderr: 'pipe',
    reject: false,
  });
  const result = await child;
  if (result.exitCode !== 0) {
    throw new GuestBuildError(
      `${tool} -dc ${source} exited ${result.exitCode}: ${String(result.stderr)}`,
    );
  }
}
