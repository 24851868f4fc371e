import { request } from 'node:http';
import { TapnetError } from '../errors.js';

/** An error answer of the daemon, as the CLI reports it (code, message, option). */
export class ApiAnswerError extends TapnetError {
  override name = 'ApiAnswerError';
  readonly status: number;
  readonly option: string | undefined;
  constructor(status: number, body: { code?: unknown; message?: unknown; option?: unknown }) {
    super(
      typeof body.code === 'string' ? body.code : 'ERR_API',
      typeof body.message === 'string' ? body.message : `The daemon answered ${status}`,
    );
    this.status = status;
    this.option = typeof body.option === 'string' ? body.option : undefined;
  }
}

/** One JSON request to the daemon over its unix socket; a non-2xx answer throws ApiAnswerError. */
export function callDaemon<T = unknown>(
  socket: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath: socket,
        method,
        path,
        headers:
          payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = { message: text };
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(parsed as T);
          else reject(new ApiAnswerError(status, (parsed ?? {}) as Record<string, unknown>));
        });
        res.on('error', reject);
      },
    );
    req.on('error', (error) =>
      reject(
        new TapnetError(
          'ERR_DAEMON_UNREACHABLE',
          `Could not reach the daemon on ${socket}: ${error.message}`,
          { cause: error },
        ),
      ),
    );
    req.end(payload);
  });
}
