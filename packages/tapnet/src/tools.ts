import { which } from '@tapnet/internal';

/** Root's tools (conntrack, iptables-save) may live outside a user's PATH. */
const ROOT_BIN = ['/usr/sbin', '/sbin'];

/** Where the host's `name` is: the first on PATH, then root's folders; undefined if none. */
export function findTool(name: string): string | undefined {
  return which(name, { also: ROOT_BIN });
}
