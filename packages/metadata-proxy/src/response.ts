import { inspect } from 'node:util';

/**
 * A lightweight `Response` for fetch-style handlers, written to the socket without a stream.
 *
 * The global `Response` (Node's bundled undici) builds a `ReadableStream` for every body in
 * its constructor and offers no way back to the bytes it was given, so a server must read that
 * stream: the two cost as much as a whole bare `node:http` request. This class keeps what it
 * was given instead, validated as the global constructor validates it: a body that is a
 * string, bytes or null, a status, a status text and plain header fields. The server writes
 * those with their `Content-Length` in one write (`fetch-response.ts`).
 *
 * To user code it is a `Response`: its prototype chain is the global `Response.prototype`
 * (`instanceof Response` holds) and every member answers as the global one would. `status`,
 * `statusText`, `ok`, `type`, `url`, `redirected`, `bodyUsed` and `clone()` are answered from
 * the fields; `headers` is a real `Headers` made on first read, and from then on it is the
 * headers (mutations reach the wire). `body` and the body readers (`text()`, `json()`, …) are
 * answered by a real global `Response` made once from the same parts; the server then writes
 * that one as it writes any `Response`. Whatever the fast path does not take (a stream, a
 * `Blob`, `FormData`, header pairs in an array, a status that needs converting, anything
 * invalid) is given to the global constructor at once: it throws its own error for bad input,
 * or the result is used as above.
 */
const GlobalResponse = globalThis.Response;

type FastBody = string | Uint8Array | null;
type BodyInit = ConstructorParameters<typeof GlobalResponse>[0];

// RFC 9110 token, field-value without the leading/trailing whitespace `Headers` would strip
// (and without NUL/CR/LF, which it refuses, or a character beyond U+00FF: a header is a
// ByteString), reason-phrase. Anything else goes to the global constructor, which normalises
// or throws.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE =
  /^(?:[^\0\r\n\t \u0100-\uffff](?:[^\0\r\n\u0100-\uffff]*[^\0\r\n\t \u0100-\uffff])?)?$/;
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;
const NOT_FAST = Symbol('not fast');
const TEXT_TYPE = 'text/plain;charset=UTF-8';
const JSON_TYPE = 'application/json';

/** The parts the writer needs; see `responseParts`. */
export interface ResponseParts {
  readonly status: number;
  readonly body: FastBody;
  /** Sorted lowercase name/value pairs, flat: `[name, value, name, value, …]`. */
  readonly fields: readonly string[];
  /** The headers once user code asked for them: then these, not `fields`, are sent. */
  readonly headers: Headers | undefined;
  /** The global `Response` once one was made: then its body is sent (as any `Response`). */
  readonly real: globalThis.Response | undefined;
}

let partsOf: (value: object) => ResponseParts | undefined;

function fastBody(body: unknown): FastBody | typeof NOT_FAST {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') return body;
  // Copied, as the global constructor copies: the caller may reuse its buffer.
  if (ArrayBuffer.isView(body) && body.buffer instanceof ArrayBuffer)
    return new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
  if (body instanceof ArrayBuffer) return new Uint8Array(body.slice(0));
  return NOT_FAST;
}

/** Checked field names and their lower case: the few names a handler uses, checked once. */
const names = new Map<string, string>();

function fieldName(name: string): string | undefined {
  const known = names.get(name);
  if (known !== undefined) return known;
  if (!TOKEN.test(name)) return undefined;
  const lower = name.toLowerCase();
  if (names.size < 1024) names.set(name, lower);
  return lower;
}

/** Plain-object header fields as sorted flat pairs, or NOT_FAST when any needs the real check. */
function fastFields(headers: unknown, contentType: string | undefined): string[] | typeof NOT_FAST {
  const fields: string[] = [];
  let typed = false;
  if (headers !== undefined) {
    if (typeof headers !== 'object' || headers === null) return NOT_FAST;
    const proto = Object.getPrototypeOf(headers);
    if (proto !== Object.prototype && proto !== null) return NOT_FAST;
    if (Object.getOwnPropertySymbols(headers).length > 0) return NOT_FAST;
    for (const name of Object.keys(headers)) {
      const value = (headers as Record<string, unknown>)[name];
      const lower = fieldName(name);
      if (lower === undefined || typeof value !== 'string' || !FIELD_VALUE.test(value))
        return NOT_FAST;
      // Two spellings of one name are combined by `Headers`; rare enough to leave to it.
      for (let i = 0; i < fields.length; i += 2) if (fields[i] === lower) return NOT_FAST;
      if (lower === 'content-type') typed = true;
      insertPair(fields, lower, value);
    }
  }
  if (contentType !== undefined && !typed) insertPair(fields, 'content-type', contentType);
  return fields;
}

/** Inserts a pair into flat pairs sorted by name, the order `Headers` iterates in. */
function insertPair(fields: string[], name: string, value: string): void {
  let i = fields.length;
  fields.push(name, value);
  while (i > 0 && (fields[i - 2] as string) > name) {
    fields[i] = fields[i - 2] as string;
    fields[i + 1] = fields[i - 1] as string;
    i -= 2;
  }
  fields[i] = name;
  fields[i + 1] = value;
}

class Response {
  #status = 200;
  #statusText = '';
  #body: FastBody = null;
  #fields: string[] = [];
  #headers: Headers | undefined;
  #real: globalThis.Response | undefined;

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    this.#setup(body, init, TEXT_TYPE, false);
  }

  /**
   * Takes body and init on the fast path when it can; otherwise makes the global `Response`
   * (which throws for bad input). `Response.json()` passes its text with `json` set: its
   * fallback is the global `Response.json(data)`, so the content type is chosen as there.
   */
  #setup(body: unknown, init: unknown, textType: string, json: boolean, data?: unknown) {
    if (init !== undefined && init !== null && typeof init !== 'object') {
      this.#fallback(body, init, json, data);
      return;
    }
    // Each init member is read once, as the global constructor reads it; only an absent
    // (undefined) member takes its default (a null status is 0, a null text is "null").
    const i = init as ResponseInit | null | undefined;
    const headers = i?.headers;
    const givenStatus = i?.status;
    const givenText = i?.statusText;
    const status = givenStatus === undefined ? 200 : givenStatus;
    const statusText = givenText === undefined ? '' : givenText;
    const fast = fastBody(body);
    let fields: string[] | typeof NOT_FAST = NOT_FAST;
    if (
      fast !== NOT_FAST &&
      typeof status === 'number' &&
      Number.isInteger(status) &&
      status >= 200 &&
      status <= 599 &&
      (fast === null || (status !== 204 && status !== 205 && status !== 304)) &&
      typeof statusText === 'string' &&
      (statusText === '' || REASON_PHRASE.test(statusText))
    ) {
      const contentType = typeof fast === 'string' ? textType : undefined;
      if (headers instanceof Headers) {
        // A copy, as the global constructor copies: later changes to the caller's do not count.
        this.#headers = new Headers(headers);
        if (contentType !== undefined && !this.#headers.has('content-type'))
          this.#headers.append('content-type', contentType);
        fields = [];
      } else fields = fastFields(headers, contentType);
    }
    if (fields === NOT_FAST || fast === NOT_FAST) {
      this.#headers = undefined;
      this.#fallback(body, { headers, status: givenStatus, statusText: givenText }, json, data);
      return;
    }
    this.#fields = fields;
    this.#status = status;
    this.#statusText = statusText;
    this.#body = fast;
  }

  #fallback(body: unknown, init: unknown, json: boolean, data: unknown): void {
    this.#real = json
      ? GlobalResponse.json(data, init as ResponseInit)
      : new GlobalResponse(body as BodyInit, init as ResponseInit);
  }

  /** The global `Response` for what the fast path does not answer; made once. */
  #materialise(): globalThis.Response {
    if (this.#real) return this.#real;
    const headers: [string, string][] = [];
    if (!this.#headers)
      for (let i = 0; i < this.#fields.length; i += 2)
        headers.push([this.#fields[i] ?? '', this.#fields[i + 1] ?? '']);
    this.#real = new GlobalResponse(this.#body, {
      status: this.#status,
      statusText: this.#statusText,
      headers: this.#headers ?? headers,
    });
    return this.#real;
  }

  static json(data: unknown, init?: ResponseInit): globalThis.Response {
    const text = JSON.stringify(data);
    // `undefined` (and functions, symbols) serialise to nothing: the global one throws for it.
    if (typeof text !== 'string') return GlobalResponse.json(data, init);
    const response = new Response();
    response.#setup(text, init, JSON_TYPE, true, data);
    return response as unknown as globalThis.Response;
  }

  static error(): globalThis.Response {
    return GlobalResponse.error();
  }

  static redirect(
    url: string | URL,
    status?: Parameters<typeof GlobalResponse.redirect>[1],
  ): globalThis.Response {
    return GlobalResponse.redirect(url, status);
  }

  get status(): number {
    return this.#real ? this.#real.status : this.#status;
  }

  get statusText(): string {
    return this.#real ? this.#real.statusText : this.#statusText;
  }

  get ok(): boolean {
    const status = this.status;
    return status >= 200 && status <= 299;
  }

  get type(): globalThis.Response['type'] {
    return this.#real ? this.#real.type : 'default';
  }

  get url(): string {
    return this.#real ? this.#real.url : '';
  }

  get redirected(): boolean {
    return this.#real ? this.#real.redirected : false;
  }

  get headers(): Headers {
    if (this.#headers) return this.#headers;
    if (this.#real) return this.#real.headers;
    const headers = new Headers();
    for (let i = 0; i < this.#fields.length; i += 2)
      headers.append(this.#fields[i] ?? '', this.#fields[i + 1] ?? '');
    this.#headers = headers;
    return headers;
  }

  get body(): ReadableStream<Uint8Array> | null {
    return this.#materialise().body;
  }

  get bodyUsed(): boolean {
    return this.#real ? this.#real.bodyUsed : false;
  }

  clone(): globalThis.Response {
    if (this.#real) {
      const copy = this.#real.clone();
      // Headers handed out before the real one was made are the headers; the copy takes them.
      if (this.#headers) {
        for (const name of [...copy.headers.keys()]) copy.headers.delete(name);
        for (const [name, value] of this.#headers) copy.headers.append(name, value);
      }
      return copy;
    }
    const copy = new Response();
    copy.#status = this.#status;
    copy.#statusText = this.#statusText;
    copy.#body = this.#body; // never handed out or changed, so it can be shared
    copy.#fields = this.#fields;
    if (this.#headers) copy.#headers = new Headers(this.#headers);
    return copy as unknown as globalThis.Response;
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#materialise().arrayBuffer();
  }

  blob(): Promise<Blob> {
    return this.#materialise().blob();
  }

  bytes(): ReturnType<globalThis.Response['bytes']> {
    return this.#materialise().bytes();
  }

  formData(): Promise<FormData> {
    return this.#materialise().formData();
  }

  json(): Promise<unknown> {
    return this.#materialise().json();
  }

  text(): Promise<string> {
    return this.#materialise().text();
  }

  [inspect.custom](depth: number, options: object): string {
    const shown = {
      status: this.status,
      statusText: this.statusText,
      headers: this.headers,
      body: this.body,
      bodyUsed: this.bodyUsed,
      ok: this.ok,
      redirected: this.redirected,
      type: this.type,
      url: this.url,
    };
    return `Response ${inspect(shown, { ...options, depth })}`;
  }

  static {
    partsOf = (value) =>
      #status in value
        ? {
            status: value.#status,
            body: value.#body,
            fields: value.#fields,
            headers: value.#headers,
            real: value.#real,
          }
        : undefined;
  }
}

Object.setPrototypeOf(Response, GlobalResponse);
Object.setPrototypeOf(Response.prototype, GlobalResponse.prototype);

/** This package's `Response` (a global `Response` to user code); see the module comment. */
const TapnetResponse: typeof globalThis.Response =
  Response as unknown as typeof globalThis.Response;
type TapnetResponse = globalThis.Response;

export { TapnetResponse as Response };

/** The parts of one of this package's responses (checked by a private brand), else undefined. */
export function responseParts(value: object): ResponseParts | undefined {
  return partsOf(value);
}
