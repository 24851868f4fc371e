import { BackendUnavailableError } from './errors.js';
import { defaultRunner, type Runner } from './runner.js';

export type Backend = 'nft' | 'iptables';

/** The device of the default route (`ip -json route show default`), or null when there is none. */
export async function detectUplink(runner: Runner = defaultRunner): Promise<string | null> {
  const result = await runner(['ip', '-json', 'route', 'show', 'default']);
  if (result.exitCode !== 0) return null;
  return parseDefaultRouteDevice(result.stdout);
}

/** Pure part of detectUplink: the first default route's `dev`, preferring the lowest metric. */
export function parseDefaultRouteDevice(json: string): string | null {
  let routes: unknown;
  try {
    routes = JSON.parse(json.trim() || '[]');
  } catch {
    return null;
  }
  if (!Array.isArray(routes)) return null;
  const candidates = routes
    .filter((r): r is { dev: string; metric?: number } => typeof r?.dev === 'string')
    .sort((a, b) => (a.metric ?? 0) - (b.metric ?? 0));
  return candidates[0]?.dev ?? null;
}

/**
 * `nft` when `nft list tables` works (binary present, kernel support, permission), else
 * `iptables` when `iptables-save` works, else BackendUnavailableError with both reasons.
 */
export async function detectBackend(runner: Runner = defaultRunner): Promise<Backend> {
  const nft = await runner(['nft', 'list', 'tables']);
  if (nft.exitCode === 0) return 'nft';
  const ipt = await runner(['iptables-save', '-t', 'filter']);
  if (ipt.exitCode === 0) return 'iptables';
  throw new BackendUnavailableError(
    `Expected \`nft\` or \`iptables-save\` to work, got nft: exit ${nft.exitCode} ${nft.stderr.trim()}; iptables-save: exit ${ipt.exitCode} ${ipt.stderr.trim()}`,
  );
}
