import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';

// Small HTTP helpers of the server, apart so that server.ts holds the request flow only.

export const TOO_LARGE = Symbol('too large');
export const BODYLESS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);
/** Methods the fetch `Request` constructor refuses (Node's parser accepts them). */
export const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);

export function rawResponse(status: number, extra = ''): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${extra}Connection: close\r\nContent-Length: 0\r\n\r\n`;
}

/** A short plain-text answer from the server itself (refusals, errors). */
export function reply(
  res: ServerResponse,
  status: number,
  message: string,
  close: boolean,
  headers?: Record<string, string>,
): void {
  const body = `${message}\n`;
  res.statusCode = status;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  if (headers) for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (close) res.setHeader('connection', 'close');
  res.end(body);
}

/** The answer to one of Node's parser errors (`clientError`). */
export function clientErrorStatus(code: string | undefined): number {
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return 413;
  return 400;
}

export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Reads a request body up to `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | typeof TOO_LARGE> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        resolve(TOO_LARGE);
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

export function isResponseLike(value: unknown): value is Response {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Response).status === 'number' &&
    typeof (value as Response).arrayBuffer === 'function' &&
    typeof (value as Response).headers?.forEach === 'function'
  );
}

export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}

const ONE_WRITE_BYTES = 16 * 1024;

/**
 * Ends a response whose head is set with `body`. Node sends a string body in the same write as
 * the head but a Buffer as a second chunk of a writev; for the small bodies metadata is made
 * of, one write is measurably cheaper, and latin1 maps each byte to one character and back, so
 * the bytes sent are the bytes given.
 */
export function endWith(res: ServerResponse, body: Uint8Array | undefined): void {
  if (body !== undefined && body.length <= ONE_WRITE_BYTES) {
    res.end(Buffer.from(body.buffer, body.byteOffset, body.length).toString('latin1'), 'latin1');
  } else res.end(body);
}
