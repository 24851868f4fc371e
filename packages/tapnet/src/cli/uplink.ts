import { uplinkExists } from '../uplink.js';
import { UsageError } from './parse.js';
import type { CommandName } from './spec.js';

/**
 * Refuses an uplink that is no device here (the library's rule, as a usage error): it would be
 * compiled into rules that match nothing.
 */
export async function checkUplink(name: string, command: CommandName): Promise<void> {
  if (!(await uplinkExists(name))) {
    throw new UsageError(
      `Expected --uplink to name a network device here, got \`${name}\` (no such device; \`none\` for no uplink)`,
      command,
    );
  }
}
