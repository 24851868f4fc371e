// When the supervisor restarts a dnsmasq that died, and when it gives up: pure.
import type { RestartOptions } from './options.js';

export type RestartDecision =
  | { giveUp: true; quickFailures: number }
  | { giveUp: false; quickFailures: number; attempt: number; delayMs: number };

/**
 * The next step after a run ended (or a restart never got ready). A run that lasted the
 * quick-failure window resets the count; otherwise it is one more quick failure, and at
 * `maxQuickFailures` in a row the supervisor gives up. The delay doubles from `initialDelayMs`
 * per quick failure, up to `maxDelayMs`.
 */
export function restartDecision(
  quickFailuresBefore: number,
  lasted: boolean,
  o: Readonly<Required<Pick<RestartOptions, 'maxQuickFailures' | 'initialDelayMs' | 'maxDelayMs'>>>,
): RestartDecision {
  const quickFailures = lasted ? 0 : quickFailuresBefore + 1;
  if (quickFailures >= o.maxQuickFailures) return { giveUp: true, quickFailures };
  const attempt = quickFailures + (lasted ? 1 : 0);
  const delayMs = Math.min(o.initialDelayMs * 2 ** Math.max(0, attempt - 1), o.maxDelayMs);
  return { giveUp: false, quickFailures, attempt: Math.max(1, attempt), delayMs };
}
