import { describeValue } from '@tapnet/internal';
import { InvalidQemuArgError, QemuArgSyntaxError } from './errors.js';

/** One `key=value` of a QEMU option string; `key` is undefined for a bare leading value (`tap`). */
export interface OptionPair {
  key: string | undefined;
  value: string;
}

/**
 * Escapes a value for QEMU's option parsers (QemuOpts and keyval): a comma ends a value, so every
 * comma inside one is doubled. Newline and NUL cannot be carried and are rejected.
 */
export function escapeOptionValue(value: string, field = 'value'): string {
  assertCarriable(value, field);
  return value.replaceAll(',', ',,');
}

/** Throws when `value` holds a character no QEMU option value can carry (NUL, CR, LF). */
export function assertCarriable(value: string, field: string): void {
  if (/[\0\n\r]/.test(value)) {
    throw new InvalidQemuArgError(
      `Expected \`${field}\` to contain no newline or NUL character, got ${describeValue(value)}`,
      field,
    );
  }
}

/**
 * Splits a QEMU option string the way QemuOpts/keyval do: a single comma separates options,
 * a doubled comma is a literal comma, the first `=` of an option separates key and value.
 */
export function splitOptionString(text: string): OptionPair[] {
  const segments: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === ',') {
      if (text[i + 1] === ',') {
        current += ',';
        i++;
      } else {
        segments.push(current);
        current = '';
      }
    } else {
      current += c;
    }
  }
  segments.push(current);
  return segments.map((segment, index) => {
    if (segment === '') {
      throw new QemuArgSyntaxError(
        `Expected an option at position ${index} of \`${text}\`, got an empty one (stray comma?)`,
      );
    }
    const eq = segment.indexOf('=');
    return eq === -1
      ? { key: undefined, value: segment }
      : { key: segment.slice(0, eq), value: segment.slice(eq + 1) };
  });
}

const SLIRP_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quotes one argument so that slirp's `cmd:` splitting (GLib `g_shell_parse_argv`: shell-like
 * words, no shell runs) yields it unchanged. Safe words stay bare; anything else is put in single
 * quotes, inside which GLib takes every character literally; a `'` becomes `'\''`.
 */
export function quoteSlirpArg(arg: string, field = 'arg'): string {
  if (typeof arg !== 'string') {
    throw new InvalidQemuArgError(
      `Expected \`${field}\` to be a string, got ${describeValue(arg)}`,
      field,
    );
  }
  assertCarriable(arg, field);
  if (SLIRP_SAFE.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Joins an argv into `cmd:` text for slirp, each argument quoted by `quoteSlirpArg`. */
export function quoteSlirpCommand(argv: readonly string[], field = 'cmd'): string {
  if (!Array.isArray(argv) || argv.length === 0) {
    throw new InvalidQemuArgError(
      `Expected \`${field}\` to be a non-empty array of strings, got ${describeValue(argv)}`,
      field,
    );
  }
  return argv.map((arg, i) => quoteSlirpArg(arg, `${field}[${i}]`)).join(' ');
}

/**
 * Splits `cmd:` text into argv exactly as slirp does (a re-implementation of GLib 2.x
 * `g_shell_parse_argv`: tokenize, then `g_shell_unquote` each token). Throws
 * `QemuArgSyntaxError` where GLib would fail (unclosed quote, trailing backslash, empty text).
 */
export function splitSlirpCommand(text: string): string[] {
  return tokenize(text).map(unquote);
}

// GLib's tokenize_command_line: blanks split words, quotes and escapes stay in the token for
// unquote, a `#` at the start of the text or after a space/newline starts a comment.
function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let token: string | undefined;
  let quote = '';
  let quoted = false; // an odd run of backslashes precedes this character
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === '\\') {
      if (c !== '\n') token = `${token ?? ''}\\${c}`;
      quote = '';
    } else if (quote === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      quote = '';
      if (i >= text.length) break;
    } else if (quote) {
      if (c === quote && !(quote === '"' && quoted)) quote = '';
      token = (token ?? '') + c;
    } else if (c === '\n') {
      if (token !== undefined) tokens.push(token);
      token = undefined;
    } else if (c === ' ' || c === '\t') {
      if (token !== undefined) tokens.push(token);
      token = undefined;
    } else if (c === "'" || c === '"') {
      token = (token ?? '') + c;
      quote = c;
    } else if (c === '\\') {
      quote = c;
    } else if (c === '#') {
      const prev = i === 0 ? '\0' : text[i - 1];
      if (prev === ' ' || prev === '\n' || prev === '\0') quote = '#';
      else token = (token ?? '') + c;
    } else {
      token = (token ?? '') + c;
    }
    quoted = text[i] === '\\' ? !quoted : false;
  }
  if (token !== undefined) tokens.push(token);
  if (quote === '\\')
    throw new QemuArgSyntaxError(
      `Expected \`cmd\` not to end just after a backslash, got \`${text}\``,
      'cmd',
    );
  // GLib also fails on a `#` comment that starts at the very end of the text.
  if (quote === "'" || quote === '"' || quote === '#') {
    throw new QemuArgSyntaxError(
      `Expected \`cmd\` to close its ${quote} quote, got \`${text}\``,
      'cmd',
    );
  }
  if (tokens.length === 0)
    throw new QemuArgSyntaxError(`Expected \`cmd\` to contain a word, got \`${text}\``, 'cmd');
  return tokens;
}

// GLib's g_shell_unquote: outside quotes a backslash escapes any character (backslash-newline
// vanishes); inside '...' everything is literal; inside "..." a backslash escapes only " \ ` $ and
// newline and is kept before anything else.
function unquote(token: string): string {
  let out = '';
  let i = 0;
  while (i < token.length) {
    const c = token[i]!;
    if (c === '\\') {
      i++;
      if (i < token.length) {
        if (token[i] !== '\n') out += token[i];
        i++;
      }
    } else if (c === "'") {
      const end = token.indexOf("'", i + 1);
      if (end === -1)
        throw new QemuArgSyntaxError(
          `Expected \`cmd\` to close its ' quote, got \`${token}\``,
          'cmd',
        );
      out += token.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= token.length) {
          throw new QemuArgSyntaxError(
            `Expected \`cmd\` to close its " quote, got \`${token}\``,
            'cmd',
          );
        }
        const d = token[i]!;
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\') {
          const e = token[i + 1];
          if (e === '"' || e === '\\' || e === '`' || e === '$' || e === '\n') {
            out += e;
            i += 2;
          } else {
            out += '\\';
            i++;
          }
        } else {
          out += d;
          i++;
        }
      }
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
