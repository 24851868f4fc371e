// Type-level test, checked by `tsc --noEmit` (the package's `typecheck`), not run: a misspelt
// event name or a listener of the wrong shape must fail to compile. Each `@ts-expect-error`
// fails the check if the line below it compiles.
import type { Dnsmasq, Lease, RestartEvent } from './index.js';

declare const dnsmasq: Dnsmasq;

dnsmasq.on('lease', (lease) => {
  const typed: Lease = lease;
  const mac: string = lease.mac;
  void typed;
  void mac;
});
dnsmasq.once('restart', (event) => {
  const typed: RestartEvent = event;
  void typed;
});
dnsmasq.on('expire', (lease) => void lease.network);

// @ts-expect-error: misspelt event name
dnsmasq.on('leases', () => {});
// @ts-expect-error: a lease has no `attempt`
dnsmasq.on('lease', (lease) => void lease.attempt);
// @ts-expect-error: the restart event is no Lease
dnsmasq.on('restart', (event: Lease) => void event);
