import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BridgeHost } from './fetch-bridge.js';
import type { HandlerContext, NodeHandler } from './handler.js';
import { stripIdentityHeaders } from './headers.js';
import { isPromiseLike, reply } from './http-util.js';
import type { NetworkState } from './network-state.js';

/**
 * Serves a node-style handler: it gets Node's own request (identity headers removed) and
 * response; a chunked body is cut at the limit whoever reads it; a throw or a rejected promise
 * is a failure.
 */
export function serveNode(
  host: BridgeHost,
  state: NetworkState,
  fn: NodeHandler,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HandlerContext,
): void {
  if (req.headers['transfer-encoding'] !== undefined)
    limitStreamedBody(req, res, host.maxBodyBytes);
  stripIdentityHeaders(req);
  try {
    const result = fn(req, res, ctx);
    if (isPromiseLike(result)) {
      result.then(undefined, (error: unknown) => host.failed(state, res, error));
    }
  } catch (error) {
    host.failed(state, res, error);
  }
}

/**
 * A chunked body has no declared size: count bytes as the parser hands them to the request
 * stream and cut the request at the limit, whoever is reading it.
 */
function limitStreamedBody(req: IncomingMessage, res: ServerResponse, limit: number): void {
  const push = req.push;
  let seen = 0;
  let over = false;
  req.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (over) return false; // nothing past the limit reaches the handler
    if (chunk !== null && chunk !== undefined) {
      seen += (chunk as Buffer).length;
      if (seen > limit) {
        over = true;
        // The handler may still write; those writes must not surface as unhandled errors.
        res.on('error', () => {});
        if (res.headersSent) {
          req.socket.destroy();
        } else {
          res.once('finish', () => req.socket.destroy());
          reply(res, 413, 'Content Too Large', true);
        }
        return false;
      }
    }
    return push.call(req, chunk, encoding);
  };
}
