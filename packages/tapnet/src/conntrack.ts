import { execa } from 'execa';

/**
 * Deletes the connection-tracking entries of flows a network's VM started (source in its
 * subnet). A released network's next VM gets the same address (the MAC is the network's), so an
 * old flow left in the table would let the previous tenant's peers keep sending it packets
 * through the firewall's `established` rule.
 */
export async function flushConntrack(
  conntrack: string,
  network: string,
  netmask: string,
): Promise<void> {
  const result = await execa(conntrack, ['-D', '-s', network, '--mask-src', netmask], {
    reject: false,
  });
  // Exit 1 with "0 flow entries have been deleted" just means there were none.
  if (result.exitCode === 0 || /\b0 flow entries have been deleted/.test(String(result.stderr)))
    return;
  throw Object.assign(
    new Error(
      `\`conntrack -D -s ${network} --mask-src ${netmask}\` exited ${result.exitCode}: ${String(result.stderr).trim()}`,
    ),
    {
      argv: [conntrack, '-D', '-s', network, '--mask-src', netmask],
      exitCode: result.exitCode,
      stderr: String(result.stderr),
    },
  );
}
