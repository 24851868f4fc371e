// Removing what a crashed run left behind: found by name (the prefix), nothing else touched.
import { removeIptables } from './iptables-backend.js';
import { compileNftRemoval, NFT_APPLY, nftTableName } from './nft.js';
import { checkPrefix } from './options.js';
import { defaultRunner, type Runner, runChecked } from './runner.js';

/**
 * Removes leftovers of a crashed run for `prefix` from both backends (whichever tools exist):
 * our nft table, our iptables/ip6tables chains and the jumps into them, and our ipsets.
 */
export async function cleanupFirewall(
  prefix: string,
  options?: { runner?: Runner },
): Promise<{ removed: string[] }> {
  checkPrefix(prefix);
  const runner = options?.runner ?? defaultRunner;
  const removed: string[] = [];
  const tables = await runner(['nft', 'list', 'tables']);
  const table = nftTableName(prefix);
  if (
    tables.exitCode === 0 &&
    tables.stdout.split('\n').some((l) => l.trim() === `table inet ${table}`)
  ) {
    await runChecked(runner, NFT_APPLY, compileNftRemoval(prefix));
    removed.push(`nft table inet ${table}`);
  }
  removed.push(...(await removeIptables(runner, prefix, { tolerant: true })));
  return { removed };
}
