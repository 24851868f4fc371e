import { formatCidr, parseCidr, sizeOf } from '@tapnet/internal';
import { DEFAULTS } from '@tapnet/tap-pool';
import type { FirewallBackendOption, PoolOptions } from '../options.js';
import { intValue, UsageError, type Values } from './parse.js';

/** Pool.create options from the command line (pure). */
export function poolOptionsOf(values: Values, defaults: Partial<PoolOptions> = {}): PoolOptions {
  const size = intValue(values, 'size') ?? defaults.size;
  if (size === undefined) throw new UsageError('Expected --size N');
  const prefixLength = intValue(values, 'prefix-length');
  const connections = intValue(values, 'connections');
  const packetsPerSecond = intValue(values, 'packets-per-second');
  // Rates go through as written: Pool.create validates them and names the option.
  const limits = {
    ...(connections !== undefined && { connections }),
    ...(values.egress !== undefined && { egress: values.egress }),
    ...(values.ingress !== undefined && { ingress: values.ingress }),
    ...(packetsPerSecond !== undefined && { packetsPerSecond }),
  };
  return {
    ...defaults,
    size,
    ...(values.prefix !== undefined && { prefix: values.prefix }),
    ...(values.subnet !== undefined && { subnet: values.subnet }),
    ...(prefixLength !== undefined && { prefixLength }),
    ...(values.firewall !== undefined && { firewall: values.firewall as FirewallBackendOption }),
    ...(values.uplink !== undefined && { uplink: values.uplink === 'none' ? null : values.uplink }),
    ...(values['state-dir'] !== undefined && { stateDir: values['state-dir'] }),
    ...(Object.keys(limits).length > 0 && { limits }),
  };
}

/**
 * The pools `tapnet run` tries, in order, when the caller named neither a prefix nor a subnet:
 * each its own prefix (`tr`, `tra`, `trb`, …: never a prefix plus digits, which could name
 * another run's device) and, for one network, its own /24 counted down from the top of the
 * default range, so runs side by side (and an `up` pool filling the range from the bottom) do
 * not collide.
 */
export function runCandidates(values: Values, count = 16): Partial<PoolOptions>[] {
  if (values.prefix !== undefined || values.subnet !== undefined)
    return [{ size: 1, prefix: 'tr' }];
  const single = (intValue(values, 'size') ?? 1) === 1 && values['prefix-length'] === undefined;
  return Array.from({ length: count }, (_, i) => ({
    size: 1,
    prefix: i === 0 ? 'tr' : `tr${String.fromCharCode(96 + i)}`,
    ...(single && { subnet: topSubnet(i), prefixLength: 24 }),
  }));
}

/** The `i`-th /24 from the top of tap-pool's default range (`10.231.255.0/24` for 0). */
function topSubnet(i: number): string {
  const range = parseCidr(DEFAULTS.subnet);
  if (range === undefined)
    throw new Error(`tap-pool's default subnet ${DEFAULTS.subnet} is no CIDR`);
  const end = range.base + sizeOf(range.prefixLength);
  return formatCidr({ base: end - (i + 1) * sizeOf(24), prefixLength: 24 });
}

/** Whether Pool.create failed only because another pool holds that prefix or address range. */
export function isTaken(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === 'ERR_PREFIX_IN_USE' || code === 'ERR_PLAN_CONFLICT' || code === 'ERR_DEVICE_EXISTS'
  );
}
