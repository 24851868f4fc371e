import type { Writable } from 'node:stream';

/** Lays rows out in columns, two spaces apart, the first row as the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const header = rows[0] ?? [];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * Where a command's output goes. Human mode: text on stdout, progress and logs on stderr.
 * `--json`: one JSON object per line on stdout (results and events alike), nothing else.
 */
export class Output {
  readonly json: boolean;
  readonly #out: Writable;
  readonly #err: Writable;

  constructor(json: boolean, out: Writable = process.stdout, err: Writable = process.stderr) {
    this.json = json;
    this.#out = out;
    this.#err = err;
  }

  /** A result or an event: `value` as one JSON line, or `human()` as text. */
  emit(value: unknown, human: () => string): void {
    this.#out.write(this.json ? `${JSON.stringify(value)}\n` : `${human()}\n`);
  }

  /** Progress for people; silent in JSON mode. */
  log(line: string): void {
    if (!this.json) this.#err.write(`${line}\n`);
  }
}

/** An error as the CLI reports it: `{ error: { code, message, option?, usage? } }` or a line. */
export function formatError(error: unknown, json: boolean): string {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown;
    message?: unknown;
    option?: unknown;
    usage?: unknown;
  };
  const message = typeof e.message === 'string' ? e.message : String(error);
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (json) {
    return `${JSON.stringify({
      error: {
        ...(code && { code }),
        message,
        ...(typeof e.option === 'string' && { option: e.option }),
        ...(typeof e.usage === 'string' && { usage: e.usage }),
      },
    })}\n`;
  }
  const usage = typeof e.usage === 'string' ? `\n${e.usage}` : '';
  return `tapnet: ${message}${code && code !== 'ERR_USAGE' ? ` [${code}]` : ''}${usage}\n`;
}
