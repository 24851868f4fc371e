import { join } from 'node:path';
import { DEFAULTS } from '@tapnet/tap-pool';
import type { Values } from './parse.js';

/** Where `tapnet serve` listens, and where the other commands look for it (pure). */
export function socketPathOf(values: Values): string {
  return values.socket ?? join(values['state-dir'] ?? DEFAULTS.stateDir, 'api.sock');
}
