import type { Writable } from 'node:stream';
import type { ApiEvent } from './daemon.js';

export type LogFormat = 'json' | 'text';

function textValue(value: unknown): string {
  const s = typeof value === 'string' ? value : JSON.stringify(value);
  // Quoted when it holds a space, a quote or a control character, so one event stays one line.
  return /^[^\s"=\\\p{Cc}]*$/u.test(s) && s !== '' ? s : JSON.stringify(s);
}

/** One event as one line (pure): JSON, or `at event key=value …` (journald-friendly). */
export function formatEvent(event: ApiEvent, format: LogFormat): string {
  if (format === 'json') return `${JSON.stringify(event)}\n`;
  const { at, event: name, ...rest } = event;
  const fields = Object.entries(rest)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${textValue(v)}`);
  return `${[at, name, ...fields].join(' ')}\n`;
}

/** Writes events to `stream` (stderr), metadata requests only when `requests` is on. */
export class Logger {
  readonly #format: LogFormat;
  readonly #stream: Writable;
  readonly requests: boolean;

  constructor(format: LogFormat, options: { requests: boolean; stream?: Writable }) {
    this.#format = format;
    this.requests = options.requests;
    this.#stream = options.stream ?? process.stderr;
  }

  event(event: ApiEvent): void {
    if (event.event === 'metadata-request' && !this.requests) return;
    this.#stream.write(formatEvent(event, this.#format));
  }

  /** A line of the daemon's own (serving, stopping, an internal error). */
  note(name: string, fields: Record<string, unknown> = {}): void {
    this.#stream.write(
      formatEvent({ event: name, at: new Date().toISOString(), ...fields }, this.#format),
    );
  }
}
