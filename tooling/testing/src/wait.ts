export interface WaitForOptions {
  /** What is being waited for, for the error message. */
  what: string;
  timeout?: number;
  interval?: number;
  /** What has been seen so far (a log, a console), appended to the timeout error. */
  seen?: () => string;
}

/**
 * Polls `check` until it returns something other than undefined/false, or fails with what it
 * saw so far. The error's stack points at the caller, not at this helper.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  options: WaitForOptions,
): Promise<Exclude<T, false | undefined>> {
  const timeout = options.timeout ?? 10_000;
  const interval = options.interval ?? 50;
  const caller = new Error();
  const deadline = Date.now() + timeout;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as Exclude<T, false | undefined>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, interval));
  }
  const seen = options.seen ? `; seen so far:\n${options.seen()}` : '';
  const last = lastError ? `; last error: ${String(lastError)}` : '';
  const error = new Error(
    `timed out after ${timeout} ms waiting for ${options.what}${last}${seen}`,
  );
  error.stack = `${error.message}\n${caller.stack?.split('\n').slice(2).join('\n') ?? ''}`;
  throw error;
}
