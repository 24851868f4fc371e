// The QEMU command line the examples boot: a kernel and initramfs (the repository's test guest:
// `node e2e/guest/build.ts` prints both), under TCG, no display, its console in a log file.
// The guest takes a lease, fetches `/scenario` from the metadata service, runs it, POSTs its
// output to `/result` and powers off (e2e/README.md, "The /init protocol").
export interface Guest {
  kernel: string;
  initrd: string;
}

export function qemuArgv(
  guest: Guest,
  net: 'dhcp' | 'user',
  netArgs: string[],
  log: string,
): string[] {
  return [
    '-nodefaults',
    '-display',
    'none',
    '-no-reboot',
    '-accel',
    'tcg',
    '-m',
    '256',
    '-serial',
    `file:${log}`,
    '-kernel',
    guest.kernel,
    '-initrd',
    guest.initrd,
    '-append',
    // no_timer_check: a TCG guest on a busy host can miss the IO-APIC timer check and panic.
    `console=ttyS0 quiet panic=-1 no_timer_check tapnet.net=${net}`,
    ...netArgs,
  ];
}

/** `node examples/X.ts KERNEL INITRD`, or a usage line and exit 2. */
export function guestFromArgs(example: string): Guest {
  const [kernel, initrd] = process.argv.slice(2);
  if (!kernel || !initrd) {
    console.error(
      `usage: node examples/${example} KERNEL INITRD   (node e2e/guest/build.ts prints both)`,
    );
    process.exit(2);
  }
  return { kernel, initrd };
}
