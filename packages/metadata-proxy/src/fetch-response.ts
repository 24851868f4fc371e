import type { ServerResponse } from 'node:http';
import { endWith } from './http-util.js';
import type { ResponseParts } from './response.js';

/**
 * Writes a fetch `Response` to a Node response.
 *
 * A body that is complete within its first two reads (a string, bytes, JSON, `null`: undici
 * enqueues those whole when the `Response` is made) goes out as one write with a
 * `Content-Length`, head and body together, without `arrayBuffer()`'s copies. A body still
 * arriving after that (a stream the handler feeds) is passed on chunk by chunk as it arrives
 * (chunked), with backpressure, and cancelled when the client goes away. `HEAD`, 204 and 304
 * send no body; a HEAD response states no length, as before.
 *
 * Resolves when the response is written (or the client has gone); rejects when the body fails
 * before the head was sent (the caller answers 500) and destroys the response when it fails
 * after.
 */
export async function writeFetchResponse(
  res: ServerResponse,
  response: Response,
  method: string,
  headers: Headers = response.headers,
): Promise<void> {
  const status = response.status;
  const head = headLines(headers);
  const body = response.body;
  if (body === null || headOnly(method, status)) {
    body?.cancel().catch(() => {});
    return endHeadOnly(res, status, head, method);
  }
  if (typeof body.getReader !== 'function') {
    // Not a web stream (a Response from another fetch implementation): read it whole.
    const payload = new Uint8Array(await response.arrayBuffer());
    return end(res, status, head, [payload]);
  }
  const reader = body.getReader();
  const cancel = () => {
    reader.cancel().catch(() => {});
  };
  res.once('close', cancel);
  try {
    const first = await reader.read();
    if (first.done) return end(res, status, head, []);
    const next = reader.read();
    const second = await settledNow(next);
    if (second?.done) return end(res, status, head, [first.value]);
    if (res.destroyed) return;
    res.writeHead(status, head);
    res.write(first.value);
    if (second) res.write(second.value);
    await pipeRest(reader, res, second ? undefined : next);
  } finally {
    res.off('close', cancel);
  }
}

/**
 * Writes one of this package's `Response`s: a string, bytes or no body goes out at once with
 * its `Content-Length`, in one write, from the parts it was made of (the same head and body as
 * `writeFetchResponse` sends for a global `Response` made the same way). Once a global
 * `Response` stands behind it (user code read `body` or the body), that one is written.
 */
export function writeResponseParts(
  res: ServerResponse,
  parts: ResponseParts,
  method: string,
): Promise<void> | undefined {
  const { status, body, real } = parts;
  if (real) return writeFetchResponse(res, real, method, parts.headers ?? real.headers);
  const head = parts.headers ? headLines(parts.headers) : fieldLines(parts.fields);
  if (body === null || headOnly(method, status)) endHeadOnly(res, status, head, method);
  else if (typeof body !== 'string') end(res, status, head, [body]);
  else if (!res.destroyed) {
    // A string goes to the socket as it is: no encoded copy made first.
    head.push('content-length', String(Buffer.byteLength(body)));
    res.writeHead(status, head);
    res.end(body);
  }
}

/** HEAD, 204 and 304 send no body. */
function headOnly(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304;
}

/** The head alone; a length of 0 where a body could have been (not for HEAD, 204 or 304). */
function endHeadOnly(res: ServerResponse, status: number, head: string[], method: string): void {
  if (res.destroyed) return;
  if (!headOnly(method, status)) head.push('content-length', '0');
  res.writeHead(status, head);
  res.end();
}

/**
 * The head's fields from `Headers`: the length and framing are this server's to set, and each
 * cookie is its own line, after the others.
 */
function headLines(headers: Headers): string[] {
  const head: string[] = [];
  let cookies = false;
  headers.forEach((value, name) => {
    if (name === 'set-cookie') cookies = true;
    else if (name !== 'content-length' && name !== 'transfer-encoding') head.push(name, value);
  });
  if (cookies) for (const cookie of headers.getSetCookie()) head.push('set-cookie', cookie);
  return head;
}

/** `headLines` for sorted flat fields (one value per name). */
function fieldLines(fields: readonly string[]): string[] {
  const head: string[] = [];
  let cookie: string | undefined;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    const value = fields[i + 1] as string;
    if (name === 'set-cookie') cookie = value;
    else if (name !== 'content-length' && name !== 'transfer-encoding') head.push(name, value);
  }
  if (cookie !== undefined) head.push('set-cookie', cookie);
  return head;
}

type Read = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;

function end(res: ServerResponse, status: number, head: string[], chunks: Uint8Array[]): void {
  if (res.destroyed) return;
  const size = chunks.reduce((n, c) => n + c.length, 0);
  head.push('content-length', String(size));
  res.writeHead(status, head);
  endWith(res, chunks[0]);
}

/**
 * The read's result if it is ready now, else undefined: a whole body ends here without
 * waiting, and a stream the handler feeds is not held up until its second chunk.
 */
function settledNow(read: Promise<Read>): Promise<Read | undefined> {
  return Promise.race([read, Promise.resolve().then(() => undefined)]);
}

async function pipeRest(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  res: ServerResponse,
  pending: Promise<Read> | undefined,
): Promise<void> {
  let read = pending;
  for (;;) {
    const { done, value } = await (read ?? reader.read());
    read = undefined;
    if (res.destroyed) return;
    if (done) {
      res.end();
      return;
    }
    if (!res.write(value)) {
      await new Promise<void>((resolve) => {
        const go = () => {
          res.off('drain', go);
          res.off('close', go);
          resolve();
        };
        res.on('drain', go);
        res.on('close', go);
      });
    }
  }
}
