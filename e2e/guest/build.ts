// Builds the tapnet test guest: a Debian kernel plus a busybox-static initramfs whose /init
// runs the scenario protocol described in e2e/README.md. Cached under .cache/guest/, keyed by
// everything that goes into it; a no-op when nothing changed.
//
// CLI: `node e2e/guest/build.ts` prints the image's paths (tapnet.sh setup calls exactly that).
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { execa } from 'execa';
import { buildFromCommandLine, exists, GuestBuildError, guestCacheDir, out } from './common.ts';
import { locateImage, packInitramfs, publishImage } from './image.ts';
import {
  copyModule,
  ensureKernelTree,
  findKernel,
  guestModules,
  resolveKernelPackage,
} from './kernel.ts';

// The shared pieces, for the importers that know them from here.
export { repoRoot } from './common.ts';

export interface GuestImage {
  /** Absolute path of the kernel (`vmlinuz-*`). */
  kernel: string;
  /** Absolute path of the gzipped newc initramfs. */
  initrd: string;
  /** `<kernel release>+busybox-<version>+<input hash>`: changes whenever any input changes. */
  version: string;
}

const rootfsDir = join(import.meta.dirname, 'rootfs');

/** Files of the initramfs that come from this folder (rootfs/<name> → <path in the guest>). */
const guestScripts = [
  { source: 'init', target: 'init' },
  { source: 'udhcpc.script', target: 'etc/udhcpc.script' },
] as const;

// Bump when the layout built below changes in a way the inputs do not show.
const LAYOUT_VERSION = 1;

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
  const { key, imageDir, manifestPath, cached } = await locateImage<GuestImage>(
    guestCacheDir,
    { layout: LAYOUT_VERSION, kernel: pkg, busybox: busybox.version, modules: guestModules },
    scripts,
  );
  if (cached) {
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

buildFromCommandLine(import.meta.filename, 'guest', buildGuest);
