import { describe, expect, it } from 'vitest';
import { nonCanonicalPath } from './target.js';

/** The rule, stated against WHATWG URL itself, for the path part of a target. */
function refusedByRule(target: string): boolean {
  const path = target.split('?', 1)[0]!;
  let parsed: string | undefined;
  try {
    parsed = new URL(path, 'http://x').pathname;
  } catch {
    parsed = undefined;
  }
  return parsed !== path || /%(?:2e|2f|5c)/i.test(path);
}

describe('nonCanonicalPath', () => {
  it.each([
    '/..\\tn1\\secret', // the reported escape
    '/a\\b',
    '/\\',
    '/a/../b',
    '/..',
    '/.',
    '/./a',
    '/a/.',
    '/a/..',
    '/a/%2e%2e/b',
    '/a/%2E./b',
    '/a/.%2e/b',
    '/a/%2e/b',
    '/%2E%2e',
    '/a%2fb',
    '/a%2Fb',
    '/a%5cb',
    '/a%5Cb',
    '/a%2eb', // not a dot segment, but an encoded dot some servers decode before routing
    '//evil/secret', // WHATWG reads an authority
    '/a#frag',
    '/a b',
    '/a"b',
    '/a<b>',
    '/a`b',
    '/a{b}',
    '/a\tb',
    '/é',
    '/a/../b?q=1',
  ])('refuses %j', (target) => {
    expect(nonCanonicalPath(target)).toEqual(expect.any(String));
  });

  it.each([
    '/',
    '/latest/meta-data/',
    '/latest/meta-data/iam/security-credentials/role',
    '/openstack/2012-08-10/meta_data.json',
    '/v1.0/..data/file.json',
    '/a..b/...',
    '/.well-known/x',
    '/a//b',
    '/a%20b',
    '/a%zz',
    '/computeMetadata/v1/instance/?recursive=true&alt=json',
    '/x?y=../z&w=\\',
    "/a-_~!$&'()*+,;=:@|[]",
  ])('serves %j', (target) => {
    expect(nonCanonicalPath(target)).toBeUndefined();
  });

  it('agrees with new URL() on every path up to 5 characters over a tricky alphabet', () => {
    // Every string over this alphabet, after a leading `/`: dot segments in every spelling,
    // backslashes, double slashes, encodings, and a character URL encodes.
    const alphabet = ['/', '.', '\\', '%', '2', 'e', 'E', 'f', '5', 'c', 'a', '"', '#'];
    let checked = 0;
    const mismatches: string[] = [];
    const walk = (prefix: string, depth: number) => {
      checked++;
      if ((nonCanonicalPath(prefix) !== undefined) !== refusedByRule(prefix)) {
        mismatches.push(prefix);
      }
      if (depth === 0) return;
      for (const c of alphabet) walk(prefix + c, depth - 1);
    };
    walk('/', 5);
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(checked).toBeGreaterThan(400_000);
  });

  it('agrees with new URL() on every single printable ASCII character in a segment', () => {
    for (let code = 0x21; code < 0x7f; code++) {
      const path = `/a${String.fromCharCode(code)}b`;
      const shown = JSON.stringify(path);
      expect([shown, nonCanonicalPath(path) !== undefined]).toEqual([shown, refusedByRule(path)]);
    }
  });
});
