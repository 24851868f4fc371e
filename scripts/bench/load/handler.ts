// What every server in the metadata proxy benchmarks answers: the same small JSON document,
// from a node-style handler, so the servers differ only in what sits in front of it.
import type { IncomingMessage, ServerResponse } from 'node:http';

export const BODY = JSON.stringify({
  instanceId: 'i-0123456789abcdef0',
  region: 'local',
  tags: ['bench'],
});

/** The handler every node-style server runs. */
export function metadataHandler(_req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(BODY));
  res.end(BODY);
}
