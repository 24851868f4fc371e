// Builds the tapnet test guest: a Debian kernel plus a busybox-static initramfs whose /init
// runs the scenario protocol described in e2e/README.md. Cached under .cache/guest/, keyed by
// everything that goes into it; a no-op when nothing changed.
//
// CLI: `node e2e/guest/build.ts` prints the image's paths (tapnet.sh setup calls exactly that).
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { execa } from 'execa';

export interface GuestImage {
  /** Absolute path of the kernel (`vmlinuz-*`). */
  kernel: string;
  /** Absolute path of the gzipped newc initramfs. */
  initrd: string;
  /** `<kernel release>+busybox-<version>+<input hash>`: changes whenever any input changes. */
  version: string;
}

/** The repository's root, from this file's place in it (never from the working directory). */
export const repoRoot = resolve(import.meta.dirname, '../..');
export const guestCacheDir = join(repoRoot, '.cache/guest');
const rootfsDir = join(import.meta.dirname, 'rootfs');

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

/** Files of the initramfs that come from this folder (rootfs/<name> → <path in the guest>). */
const guestScripts = [
  { source: 'init', target: 'init' },
  { source: 'udhcpc.script', target: 'etc/udhcpc.script' },
] as const;

// Bump when the layout built below changes in a way the inputs do not show.
const LAYOUT_VERSION = 1;

export class GuestBuildError extends Error {
  override name = 'GuestBuildError';
  readonly code = 'ERR_GUEST_BUILD';
}

export async function out(
  file: string,
  args: string[],
  options: { cwd?: string } = {},
): Promise<string> {
  const result = await execa(file, args, {
    reject: false,
    cwd: options.cwd,
    stripFinalNewline: true,
  });
  if (result.exitCode !== 0) {
    throw new GuestBuildError(
      `\`${[file, ...args].join(' ')}\` exited ${result.exitCode}: ${String(result.stderr || result.stdout)}`,
    );
  }
  return String(result.stdout);
}

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

async function resolveBusybox(): Promise<{ path: string; version: string }> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not a template.
  const version = await out('dpkg-query', ['-W', '-f=${Version}', 'busybox-static']).catch(
    () => '',
  );
  if (!version) {
    throw new GuestBuildError('busybox-static is not installed (apt-get install busybox-static)');
  }
  const files = (await out('dpkg-query', ['-L', 'busybox-static'])).split('\n');
  const path = files.find((f) => /\/s?bin\/busybox$/.test(f));
  if (!path) throw new GuestBuildError('busybox-static ships no bin/busybox');
  return { path, version };
}

/**
 * Writes `image.json` into the finished `work` folder and publishes it as `imageDir` with one
 * rename (a concurrent reader sees all of the image or none), then drops the images of earlier
 * inputs in `cacheDir`: dead weight, with an hour's grace for a run still booting one.
 */
export async function publishImage(options: {
  work: string;
  imageDir: string;
  manifestPath: string;
  cacheDir: string;
  image: object;
}): Promise<void> {
  const { work, imageDir, manifestPath, cacheDir, image } = options;
  await writeFile(join(work, 'image.json'), `${JSON.stringify(image, null, 2)}\n`);
  await rm(imageDir, { recursive: true, force: true });
  await rename(work, imageDir).catch(async (error: unknown) => {
    if (!(await exists(manifestPath))) throw error;
  });
  for (const name of await readdir(cacheDir)) {
    const path = join(cacheDir, name);
    if (!name.startsWith('image-') || path === imageDir) continue;
    const info = await stat(path).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > 3_600_000)
      await rm(path, { recursive: true, force: true });
  }
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
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

/** Every path under `dir`, relative, parents first, as cpio's file list wants it. */
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

/** Packs `dir` as a gzipped (or, with `gzip: false`, plain) newc cpio archive at `dest`: `cpio -o -H newc | gzip`, no shell. */
export async function packInitramfs(
  dir: string,
  dest: string,
  options: { gzip?: boolean } = {},
): Promise<void> {
  const files = await listTree(dir);
  const cpio = execa('cpio', ['-o', '-H', 'newc', '-R', '0:0', '--quiet'], {
    cwd: dir,
    input: `.\n${files.join('\n')}\n`,
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
    reject: false,
  });
  const [, result] = await Promise.all([
    options.gzip === false
      ? pipeline(cpio.stdout, createWriteStream(dest))
      : pipeline(cpio.stdout, createGzip({ level: 9 }), createWriteStream(dest)),
    cpio,
  ]);
  if (result.exitCode !== 0) {
    throw new GuestBuildError(`cpio exited ${result.exitCode}: ${String(result.stderr)}`);
  }
}

async function stageRoot(
  dir: string,
  busybox: string,
  tree: string,
  release: string,
  scripts: Map<string, string>,
): Promise<void> {
  for (const sub of [
    'bin',
    'sbin',
    'usr/bin',
    'usr/sbin',
    'etc',
    'proc',
    'sys',
    'dev',
    'tmp',
    'run',
    'root',
    'lib/modules',
  ]) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  await copyFile(busybox, join(dir, 'bin/busybox'));
  await chmod(join(dir, 'bin/busybox'), 0o755);
  // Applet links made here rather than by `busybox --install` at boot: a shorter boot.
  const applets = (await out(busybox, ['--list-full'])).split('\n').filter(Boolean);
  for (const applet of applets) {
    const link = join(dir, applet);
    if (applet === 'bin/busybox' || (await exists(link))) continue;
    await mkdir(dirname(link), { recursive: true });
    await symlink(relative(dirname(link), join(dir, 'bin/busybox')), link);
  }
  for (const { target } of guestScripts) {
    const text = scripts.get(target);
    if (text === undefined) throw new GuestBuildError(`script ${target} not read`);
    await writeFile(join(dir, target), text, { mode: 0o755 });
  }
  await writeFile(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(dir, 'etc/group'), 'root:x:0:\n');
  await writeFile(join(dir, 'etc/hosts'), '127.0.0.1 localhost\n::1 localhost\n');
  await writeFile(join(dir, 'etc/resolv.conf'), '');
  for (const module of guestModules) {
    await copyModule(tree, release, module, join(dir, 'lib/modules', `${module}.ko`));
  }
  // The kernel opens /dev/console for init's stdio before /init can mount devtmpfs.
  const console = await execa('mknod', ['-m', '600', join(dir, 'dev/console'), 'c', '5', '1'], {
    reject: false,
  });
  if (console.exitCode !== 0) {
    throw new GuestBuildError(
      `mknod dev/console failed (the guest build needs root): ${String(console.stderr)}`,
    );
  }
}

export interface BuildGuestOptions {
  /** Called with progress lines (the CLI prints them). */
  log?: (line: string) => void;
}

/** Builds the guest, or returns the cached build when none of its inputs changed. */
export async function buildGuest(options: BuildGuestOptions = {}): Promise<GuestImage> {
  const log = options.log ?? (() => {});
  await mkdir(guestCacheDir, { recursive: true });
  const [pkg, busybox] = await Promise.all([resolveKernelPackage(), resolveBusybox()]);
  const scripts = new Map<string, string>();
  for (const { source, target } of guestScripts) {
    scripts.set(target, await readFile(join(rootfsDir, source), 'utf8'));
  }
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify({
      layout: LAYOUT_VERSION,
      kernel: pkg,
      busybox: busybox.version,
      modules: guestModules,
    }),
  );
  for (const [target, text] of scripts) hash.update(`\0${target}\0${text}`);
  const key = hash.digest('hex').slice(0, 16);
  const imageDir = join(guestCacheDir, `image-${key}`);
  const manifestPath = join(imageDir, 'image.json');

  const cached = await readFile(manifestPath, 'utf8').then(
    (text) => JSON.parse(text) as GuestImage,
    () => undefined,
  );
  if (cached && (await exists(cached.kernel)) && (await exists(cached.initrd))) {
    log(`cached guest ${cached.version}`);
    return cached;
  }

  log(`building guest: kernel ${pkg.name} ${pkg.version}, busybox-static ${busybox.version}`);
  const tree = await ensureKernelTree(pkg);
  const { kernel, release } = await findKernel(tree);
  const work = await mkdtemp(join(guestCacheDir, 'image-tmp-'));
  try {
    const staging = join(work, 'root');
    await stageRoot(staging, busybox.path, tree, release, scripts);
    await packInitramfs(staging, join(work, 'initrd.gz'));
    await rm(staging, { recursive: true, force: true });
    const image: GuestImage = {
      kernel,
      initrd: join(imageDir, 'initrd.gz'),
      version: `${release}+busybox-${busybox.version.replace(/^\d+:/, '')}+${key}`,
    };
    await publishImage({ work, imageDir, manifestPath, cacheDir: guestCacheDir, image });
    return image;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const image = await buildGuest({ log: (line) => console.error(`[guest] ${line}`) });
  console.error(`[guest] ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log(`kernel  ${image.kernel}\ninitrd  ${image.initrd}\nversion ${image.version}`);
}

if (process.argv[1] && resolve(process.argv[1]) === import.meta.filename) {
  main().catch((error: unknown) => {
    console.error(
      `[guest] build failed: ${error instanceof Error ? error.message : String(error)}`,
    );
    process.exit(1);
  });
}
