import { TapnetError } from '../errors.js';

/**
 * An error the control API answers with: `{ code, message, option? }` and an HTTP status.
 * Every refusal of client input is one of these; anything else is a 500 that the daemon logs
 * and survives.
 */
export class ApiError extends TapnetError {
  override name = 'ApiError';
  readonly status: number;
  readonly option: string | undefined;
  constructor(status: number, code: string, message: string, option?: string) {
    super(code, message);
    this.status = status;
    this.option = option;
  }
}

/** The HTTP status for an error thrown below the API (the pool's typed errors). */
export function statusOf(error: unknown): number {
  if (error instanceof ApiError) return error.status;
  switch ((error as { code?: unknown } | null)?.code) {
    case 'ERR_INVALID_OPTION':
    case 'ERR_USAGE':
      return 400;
    case 'ERR_ALL_NETWORKS_IN_USE':
      return 409;
    case 'ERR_POOL_DISPOSED':
      return 503;
    default:
      return 500;
  }
}

/** The JSON body of an error answer; a 500 does not leak its message's internals. */
export function errorBody(error: unknown): { code: string; message: string; option?: string } {
  const status = statusOf(error);
  const e = error as { code?: unknown; message?: unknown; option?: unknown };
  if (status === 500)
    return { code: 'ERR_INTERNAL', message: 'Internal error (see the daemon log)' };
  return {
    code: typeof e.code === 'string' ? e.code : 'ERR_INTERNAL',
    message: typeof e.message === 'string' ? e.message : String(error),
    ...(typeof e.option === 'string' && { option: e.option }),
  };
}
