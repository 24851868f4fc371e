import { fetchRequestHeaders } from './headers.js';

/**
 * The `Request` a fetch-style handler receives, built lazily.
 *
 * Constructing a real `Request` per request (URL parsing, a `Headers` filled from every header,
 * a signal that follows ours) cost more than the rest of the request; most metadata handlers
 * read the path and perhaps one header. So the handler gets an object whose prototype chain is
 * `Request.prototype` (`instanceof Request` holds) and which answers `method`, `url`, `headers`,
 * `signal`, `bodyUsed` and the body readers (`text`, `json`, `arrayBuffer`, `bytes`) itself,
 * from the Node request the server already checked: the URL is parsed on first `url`, the
 * `Headers` filled on first `headers`, the body (already read and size-checked by the server)
 * decoded on first read. Anything else (`body`, `blob()`, `formData()`, `clone()`, `cache`,
 * `mode`, …) is answered by a real `Request` made on first use from the same parts.
 *
 * Not a real `Request` to undici's internals: `new Request(request)` and `fetch(request)` throw
 * (as they do under `@hono/node-server` without its global override); `request.clone()` is a
 * real one for that.
 */
export interface FetchRequestParts {
  readonly method: string;
  /** `http://<authority><target>`, the target as the server checked it (origin-form). */
  readonly rawUrl: string;
  /** Node's raw header list; identity and hop-by-hop headers are left out when read. */
  readonly rawHeaders: readonly string[];
  /** The request body, already read within the limit, or undefined for none. */
  readonly body: Buffer | undefined;
  /** The request's signal, or a function making it on first use. */
  readonly signal: AbortSignal | (() => AbortSignal);
}

const decoder = new TextDecoder();
const kMaterialise = Symbol('materialise');
const USED = Symbol('used');

function unusable(): Promise<never> {
  return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
}

class LazyRequest {
  readonly #parts: FetchRequestParts;
  #url: string | undefined;
  #headers: Headers | undefined;
  #used = false;
  #real: Request | undefined;

  constructor(parts: FetchRequestParts) {
    this.#parts = parts;
  }

  get method(): string {
    return this.#parts.method;
  }

  get url(): string {
    if (this.#url === undefined) this.#url = new URL(this.#parts.rawUrl).href;
    return this.#url;
  }

  get headers(): Headers {
    if (this.#real) return this.#real.headers;
    if (this.#headers === undefined)
      this.#headers = new Headers(fetchRequestHeaders(this.#parts.rawHeaders));
    return this.#headers;
  }

  get signal(): AbortSignal {
    const signal = this.#parts.signal;
    return typeof signal === 'function' ? signal() : signal;
  }

  get bodyUsed(): boolean {
    return this.#used || (this.#real?.bodyUsed ?? false);
  }

  get body(): ReadableStream<Uint8Array> | null {
    return this[kMaterialise]().body;
  }

  /** The bytes once; a second read rejects as a real `Request` does. A null body reads empty. */
  #take(): Buffer | undefined | typeof USED {
    if (this.#real) return USED;
    const body = this.#parts.body;
    if (body === undefined) return undefined;
    if (this.#used) return USED;
    this.#used = true;
    return body;
  }

  text(): Promise<string> {
    if (this.#real) return this.#real.text();
    const body = this.#take();
    if (body === USED) return unusable();
    return Promise.resolve(body === undefined ? '' : decoder.decode(body));
  }

  json(): Promise<unknown> {
    return this.text().then(JSON.parse);
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.bytes().then((bytes) => bytes.buffer as ArrayBuffer);
  }

  bytes(): Promise<Uint8Array> {
    if (this.#real) return this.#real.bytes();
    const body = this.#take();
    if (body === USED) return unusable();
    // A copy: the handler owns what it gets, and a Buffer may share a pooled ArrayBuffer.
    const copy = new Uint8Array(body?.length ?? 0);
    if (body) copy.set(body);
    return Promise.resolve(copy);
  }

  /**
   * The real `Request` for everything this class does not answer itself; made once, with the
   * headers as they are now and the body unless it was read already.
   */
  [kMaterialise](): Request {
    if (this.#real) return this.#real;
    const { method, body } = this.#parts;
    this.#real = new Request(this.url, {
      method,
      headers: this.headers,
      body: body === undefined || this.#used ? null : body,
      signal: this.signal,
    });
    return this.#real;
  }

  clone(): Request {
    if (this.#used) throw new TypeError('Body is unusable: Body has already been read');
    return this[kMaterialise]().clone();
  }

  blob(): Promise<Blob> {
    if (this.#used) return unusable();
    return this[kMaterialise]().blob();
  }

  formData(): Promise<FormData> {
    if (this.#used) return unusable();
    return this[kMaterialise]().formData();
  }
}

// The remaining `Request` attributes, from the real one made on first use.
for (const name of [
  'cache',
  'credentials',
  'destination',
  'duplex',
  'integrity',
  'isHistoryNavigation',
  'isReloadNavigation',
  'keepalive',
  'mode',
  'redirect',
  'referrer',
  'referrerPolicy',
] as const) {
  Object.defineProperty(LazyRequest.prototype, name, {
    get(this: LazyRequest) {
      return (this[kMaterialise]() as unknown as Record<string, unknown>)[name];
    },
    configurable: true,
  });
}
Object.defineProperty(LazyRequest.prototype, Symbol.toStringTag, { value: 'Request' });
Object.defineProperty(LazyRequest.prototype, Symbol.for('nodejs.util.inspect.custom'), {
  value(this: LazyRequest) {
    return `Request (lazy) ${JSON.stringify({ method: this.method, url: this.url })}`;
  },
});
Object.setPrototypeOf(LazyRequest.prototype, Request.prototype);

/** The `Request` for a fetch-style handler; cheap until the handler reads it. */
export function createFetchRequest(parts: FetchRequestParts): Request {
  return new LazyRequest(parts) as unknown as Request;
}
