// QEMU argument lists the VM stand-ins share. No imports, so a script run by Node alone (the
// drills' pool holder) can use them as well as the test helpers.

/** A QEMU with no screen, monitor, serial port or default devices. */
export const HEADLESS: readonly string[] = Object.freeze([
  '-nodefaults',
  '-display',
  'none',
  '-monitor',
  'none',
  '-serial',
  'none',
]);

/**
 * The arguments (after the binary) of a QEMU with no machine that opens two TAPs and joins them
 * with its emulated hub: frames pass unchanged both ways, so whatever holds `clientTap` plays
 * the VM on `poolTap`, which QEMU opens exactly as a guest's would be.
 */
export function hubArgs(poolTap: string, clientTap: string): string[] {
  return [
    '-machine',
    'none',
    ...HEADLESS,
    '-netdev',
    `tap,id=pool,ifname=${poolTap},script=no,downscript=no`,
    '-netdev',
    `tap,id=client,ifname=${clientTap},script=no,downscript=no`,
    '-netdev',
    'hubport,id=p0,hubid=0,netdev=pool',
    '-netdev',
    'hubport,id=p1,hubid=0,netdev=client',
  ];
}
