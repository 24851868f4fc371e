// Builds the Debian test guest: Debian's own kernel (the busybox guest's, shared) plus an
// initramfs that IS the root filesystem, made by mmdebstrap from Debian packages: systemd as
// init, systemd-networkd for DHCP, systemd-resolved as the resolver. The only test-specific
// parts inside are the scenario unit and its script (debian/); the network config is the
// stock-looking `DHCP=yes` on en*/eth*. Cached under .cache/guest-debian/, keyed by inputs.
//
// CLI: `node e2e/guest/debian.ts` prints the image's paths (tapnet.sh setup calls exactly that).
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GuestImage } from './build.ts';
import { buildFromCommandLine, exists, GuestBuildError, out, repoRoot } from './common.ts';
import { locateImage, packInitramfs, publishImage } from './image.ts';
import {
  copyModule,
  ensureKernelTree,
  findKernel,
  guestModules,
  resolveKernelPackage,
} from './kernel.ts';

export const debianCacheDir = join(repoRoot, '.cache/guest-debian');
const filesDir = join(import.meta.dirname, 'debian');

/** The host's release (bookworm here, kernel 6.1) and what the guest is made of. */
export const debianSuite = 'bookworm';
export const debianMirror = 'http://deb.debian.org/debian';
export const debianPackages = [
  'systemd',
  'systemd-sysv',
  'systemd-resolved',
  'udev',
  'iproute2',
  'curl',
  // The probe functions of e2e/src/probes.ts are busybox sh; the guest's resolver is not.
  'busybox-static',
] as const;

/** Files from debian/ (source → path in the guest, mode). */
const guestFiles = [
  {
    source: '80-tapnet-dhcp.network',
    target: 'etc/systemd/network/80-tapnet-dhcp.network',
    mode: 0o644,
  },
  {
    source: 'tapnet-scenario.service',
    target: 'etc/systemd/system/tapnet-scenario.service',
    mode: 0o644,
  },
  { source: 'tapnet-scenario', target: 'usr/local/sbin/tapnet-scenario', mode: 0o755 },
] as const;

/** Never needed to boot and run the scenario: documentation, locales, apt's caches. */
const dpkgExcludes = [
  '/usr/share/doc/*',
  '/usr/share/man/*',
  '/usr/share/info/*',
  '/usr/share/locale/*',
  '/usr/share/lintian/*',
  '/usr/share/bash-completion/*',
];
const prunePaths = [
  'var/cache/apt',
  'var/lib/apt/lists',
  'var/cache/debconf',
  'var/log',
  'usr/share/zoneinfo',
  'usr/share/perl',
  'usr/lib/x86_64-linux-gnu/perl',
  'usr/lib/x86_64-linux-gnu/gconv',
  'usr/share/common-licenses',
];

/** The NIC drivers of the busybox guest, and autofs4, which systemd loads at start. */
const debianModules = [...guestModules, 'autofs4'] as const;

// Bump when the layout built below changes in a way the inputs do not show.
const LAYOUT_VERSION = 2;

/** Kernel command line the Debian guest needs on top of bootGuest's (`console=ttyS0 quiet …`). */
export const debianAppend = 'rdinit=/sbin/init';

async function du(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  }
  return total;
}

/** mmdebstrap into `dir` (needs the mirror: runs in setup, never in the test sandbox). */
async function bootstrap(dir: string): Promise<void> {
  await out('mmdebstrap', [
    '--mode=root',
    '--variant=minbase',
    `--include=${debianPackages.join(',')}`,
    // merged /usr without the usrmerge package (which pulls in perl).
    '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
    '--aptopt=Apt::Install-Recommends "false"',
    ...dpkgExcludes.map((p) => `--dpkgopt=path-exclude=${p}`),
    '--quiet',
    debianSuite,
    dir,
    debianMirror,
  ]).catch((error: unknown) => {
    throw new GuestBuildError(
      `mmdebstrap failed (needs the mmdebstrap package and a Debian mirror; \`./tapnet.sh setup\` builds the guest before tests run): ${String(error)}`,
      { cause: error },
    );
  });
}

/** NIC drivers where udev's kmod finds them: lib/modules/<release>/ with depmod's index. */
async function installModules(root: string, tree: string, release: string): Promise<void> {
  const dest = join(root, 'usr/lib/modules', release);
  await mkdir(join(dest, 'kernel/tapnet'), { recursive: true });
  for (const module of debianModules) {
    await copyModule(tree, release, module, join(dest, 'kernel/tapnet', `${module}.ko`));
  }
  for (const name of ['modules.builtin', 'modules.builtin.modinfo', 'modules.order']) {
    const source = join(tree, 'lib/modules', release, name);
    if (await exists(source)) await copyFile(source, join(dest, name));
  }
  await out('depmod', ['-b', root, release]);
}

/**
 * The root filesystem as a zstd-compressed newc cpio: measured here under TCG, the kernel
 * reaches getty about 3 s sooner than with gzip -9 (zstd unpacks faster), at a smaller file.
 */
async function packZstd(root: string, work: string, dest: string): Promise<void> {
  const plain = join(work, 'initrd.cpio');
  await packInitramfs(root, plain, { gzip: false });
  await out('zstd', ['-q', '-10', '-T0', '--rm', plain, '-o', dest]);
}

async function configure(root: string, files: Map<string, string>): Promise<void> {
  for (const { target, mode } of guestFiles) {
    const text = files.get(target);
    if (text === undefined) throw new GuestBuildError(`file ${target} not read`);
    await mkdir(join(root, target, '..'), { recursive: true });
    await writeFile(join(root, target), text, { mode });
  }
  // `systemctl enable` inside the guest's own tree only makes symlinks (it sees a chroot).
  await out('chroot', [
    root,
    'systemctl',
    'enable',
    'systemd-networkd.service',
    'tapnet-scenario.service',
  ]);
  await writeFile(join(root, 'etc/hostname'), 'tapnet-debian\n');
  // Empty: systemd makes a transient machine-id at boot (each boot a fresh one).
  await writeFile(join(root, 'etc/machine-id'), '');
  for (const path of prunePaths) await rm(join(root, path), { recursive: true, force: true });
  await mkdir(join(root, 'var/log'), { recursive: true });
  // The kernel opens /dev/console for init's stdio before systemd mounts devtmpfs.
  await rm(join(root, 'dev/console'), { force: true });
  await out('mknod', ['-m', '600', join(root, 'dev/console'), 'c', '5', '1']);
}

export interface DebianImage extends GuestImage {
  /** Kernel command line the guest needs (`rdinit=/sbin/init`). */
  append: string;
  /** Bytes of the unpacked root filesystem and of the initramfs file. */
  rootfsBytes: number;
  initrdBytes: number;
}

/** Builds the Debian guest, or returns the cached build when none of its inputs changed. */
export async function buildDebianGuest(
  options: { log?: (line: string) => void } = {},
): Promise<DebianImage> {
  const log = options.log ?? (() => {});
  await mkdir(debianCacheDir, { recursive: true });
  const pkg = await resolveKernelPackage();
  const files = new Map<string, string>();
  for (const { source, target } of guestFiles) {
    files.set(target, await readFile(join(filesDir, source), 'utf8'));
  }
  const { key, imageDir, manifestPath, cached } = await locateImage<DebianImage>(
    debianCacheDir,
    {
      layout: LAYOUT_VERSION,
      kernel: pkg,
      suite: debianSuite,
      mirror: debianMirror,
      packages: debianPackages,
      dpkgExcludes,
      prunePaths,
      modules: debianModules,
    },
    files,
  );
  if (cached) {
    log(`cached Debian guest ${cached.version}`);
    return cached;
  }

  log(`building Debian guest: ${debianSuite}, kernel ${pkg.name} ${pkg.version}`);
  const tree = await ensureKernelTree(pkg);
  const { kernel, release } = await findKernel(tree);
  const work = await mkdtemp(join(debianCacheDir, 'image-tmp-'));
  try {
    const root = join(work, 'root');
    await bootstrap(root);
    await installModules(root, tree, release);
    await configure(root, files);
    const rootfsBytes = await du(root);
    const initrd = join(work, 'initrd.zst');
    await packZstd(root, work, initrd);
    await rm(root, { recursive: true, force: true });
    const image: DebianImage = {
      kernel,
      initrd: join(imageDir, 'initrd.zst'),
      version: `${release}+debian-${debianSuite}+${key}`,
      append: debianAppend,
      rootfsBytes,
      initrdBytes: (await stat(initrd)).size,
    };
    await publishImage({ work, imageDir, manifestPath, cacheDir: debianCacheDir, image });
    return image;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

buildFromCommandLine(
  import.meta.filename,
  'guest-debian',
  buildDebianGuest,
  (image) =>
    `: rootfs ${(image.rootfsBytes / 2 ** 20).toFixed(0)} MiB, initramfs ${(image.initrdBytes / 2 ** 20).toFixed(0)} MiB`,
);
