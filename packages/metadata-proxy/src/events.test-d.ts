// Type-level test, checked by `tsc --noEmit` (the package's `typecheck`), not run: a misspelt
// event name or a listener of the wrong shape must fail to compile. Each `@ts-expect-error`
// fails the check if the line below it compiles.
import type { MetadataErrorEvent, MetadataRequestEvent, MetadataServer } from './index.js';

declare const server: MetadataServer;

server.on('request', (event) => {
  const typed: MetadataRequestEvent = event;
  const status: number = event.status;
  void typed;
  void status;
});
server.once('error', (event) => {
  const typed: MetadataErrorEvent = event;
  const network: string = event.network;
  void typed;
  void network;
});

// @ts-expect-error: misspelt event name
server.on('requests', () => {});
// @ts-expect-error: a request event has no `error`
server.on('request', (event) => void event.error);
// @ts-expect-error: the error event is { network, error }, not an Error
server.on('error', (error: Error) => void error);
