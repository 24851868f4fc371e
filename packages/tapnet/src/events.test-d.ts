// Type-level test, checked by `tsc --noEmit` (the package's `typecheck`), not run: a misspelt
// event name or a listener of the wrong shape must fail to compile. Each `@ts-expect-error`
// fails the check if the line below it compiles.
import type { DriftEvent } from '@tapnet/firewall';
import type { Lease } from './index.js';
import type { LeasesForgottenEvent, Pool } from './pool.js';

declare const pool: Pool;

pool.on('lease', (lease) => {
  const typed: Lease = lease;
  const mac: string = lease.mac;
  void typed;
  void mac;
});
pool.once('firewall-drift', (event) => {
  const typed: DriftEvent = event;
  const at: Date = event.reappliedAt;
  void typed;
  void at;
});
pool.on('leases-forgotten', (event: LeasesForgottenEvent) => void event.remaining);
pool.on('metadata-request', (event) => void event.status.toFixed());
pool.on('dnsmasq-restart', (event) => void event.attempt.toFixed());
pool.on('error', (error) => void error.message);
pool.off('lease', () => {});

// @ts-expect-error: misspelt event name
pool.on('leases', () => {});
// @ts-expect-error: misspelt event name
pool.once('firewall_drift', () => {});
// @ts-expect-error: a lease has no `reappliedAt`
pool.on('lease', (lease) => void lease.reappliedAt);
// @ts-expect-error: the listener's argument is a Lease, not a number
pool.on('lease', (lease: number) => void lease);
// @ts-expect-error: emit checks its arguments too
pool.emit('lease', 'not a lease');
