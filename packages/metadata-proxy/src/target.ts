/**
 * The canonical-path rule, one for every handler kind (issue 11 item 2).
 *
 * A guest's request target reaches three kinds of reader: a forward upstream (which may route
 * with WHATWG `new URL()`, reading `\` as `/` and resolving `..`), a fetch handler (whose
 * `Request` URL is WHATWG-parsed), and a node handler (which sees the raw target). If any of
 * them saw a different path than the one this server checked, a guest could escape a forward's
 * base path (`/..\tn1\secret`) or be routed elsewhere. So the server serves only paths that
 * every reader reads the same way: a path WHATWG parsing would leave unchanged, with no
 * percent-encoded `/`, `\` or `.` (which some servers decode before routing). Anything else is
 * refused (400) before any handler runs, and the path passed on is exactly the one checked.
 */

/**
 * Characters that WHATWG URL parsing keeps as they are in a path, minus `.`, `\` and `%`. (`^`
 * is not here: newer URL parsers percent-encode it, older ones do not, so the running parser
 * decides.)
 */
const PLAIN = /^[A-Za-z0-9\-_~!$&'()*+,;=:@/|[\]]*$/;
/** `PLAIN` as a table of character codes, for the check every request makes. */
const PLAIN_CODES = new Uint8Array(128);
for (let c = 0; c < 128; c++) if (PLAIN.test(String.fromCharCode(c))) PLAIN_CODES[c] = 1;

/** Whether the path of `target` (up to the first `?`) is made of `PLAIN` characters only. */
function plainPath(target: string): boolean {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 63) return true; // `?`: the query is not the path's
    if (c >= 128 || PLAIN_CODES[c] === 0) return false;
  }
  return true;
}

/** Percent-encoded `.`, `/` or `\`, in any case. */
const ENCODED_SEPARATOR = /%(?:2e|2f|5c)/i;

/** The path part of a request target (before the first `?`). */
export function pathOfTarget(target: string): string {
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

/**
 * Why an origin-form request target is refused, or undefined when its path is canonical: what
 * `new URL(path, base).pathname` would change (`\`, dot segments in any spelling, a leading `//`,
 * characters it percent-encodes, a fragment), or a percent-encoded `.`, `/` or `\`.
 */
export function nonCanonicalPath(target: string): string | undefined {
  // Fast path: most metadata paths have nothing to look at.
  if (plainPath(target) && !target.startsWith('//')) return undefined;
  const path = pathOfTarget(target);
  if (ENCODED_SEPARATOR.test(path)) return 'a percent-encoded ".", "/" or "\\" in the path';
  let parsed: string;
  try {
    parsed = new URL(path, 'http://x').pathname;
  } catch {
    return 'a path that is not a URL path';
  }
  if (parsed !== path) return 'a path that is not in canonical form';
  return undefined;
}
