import { readFile, realpath, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import {
  type FetchHandler,
  type HandlerContext,
  type MetadataHandler,
  // The package's own Response: its string or bytes body is written straight to the socket.
  Response,
} from '@tapnet/metadata-proxy';
import { InvalidOptionError } from './errors.js';

/**
 * A metadata handler for the CLI from `--metadata SOURCE`:
 * - `http://…`/`https://…`/`unix:/path`: forwarded there;
 * - a JSON file `{ "<network>": { "/path": "body" | json }, "*": { … } }`: answers per network,
 *   `*` for networks not named;
 * - a folder: `<folder>/<network>/<path>` (or `<folder>/default/<path>`) served as files.
 */
export async function handlerFromSource(source: string): Promise<MetadataHandler> {
  if (/^(https?:\/\/|unix:)/.test(source)) return { forward: source };
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(source);
  } catch (error) {
    throw new InvalidOptionError(
      'metadata',
      `Expected \`--metadata\` to be a URL, a JSON file or a folder, got \`${source}\` (not found)`,
      { cause: error },
    );
  }
  if (info.isDirectory()) return folderHandler(await realpath(source));
  const text = await readFile(source, 'utf8');
  let table: unknown;
  try {
    table = JSON.parse(text);
  } catch (error) {
    throw new InvalidOptionError('metadata', `Expected \`${source}\` to hold JSON`, {
      cause: error,
    });
  }
  if (typeof table !== 'object' || table === null || Array.isArray(table)) {
    throw new InvalidOptionError(
      'metadata',
      `Expected \`${source}\` to hold an object keyed by network name (or "*")`,
    );
  }
  return jsonHandler(table as Record<string, Record<string, unknown>>);
}

function respond(body: unknown): Response {
  if (typeof body === 'string')
    return new Response(body, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
  return Response.json(body);
}

export function jsonHandler(table: Record<string, Record<string, unknown>>): FetchHandler {
  return (request: Request, ctx: HandlerContext) => {
    const entries = table[ctx.network] ?? table['*'];
    const path = new URL(request.url).pathname;
    if (!entries || !Object.hasOwn(entries, path))
      return new Response('not found\n', { status: 404 });
    return respond(entries[path]);
  };
}

export function folderHandler(root: string): FetchHandler {
  return async (request: Request, ctx: HandlerContext) => {
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return new Response('method not allowed\n', { status: 405 });
    let path: string;
    try {
      path = decodeURIComponent(new URL(request.url).pathname);
    } catch {
      // A malformed percent-escape is the client's mistake, not the server's.
      return new Response('bad request\n', { status: 400 });
    }
    if (path.includes('\0')) return new Response('bad request\n', { status: 400 });
    for (const folder of [ctx.network, 'default']) {
      const found = await readWithin(join(root, folder), path);
      if (found === 'forbidden') return new Response('forbidden\n', { status: 403 });
      if (found !== undefined) return new Response(found);
    }
    return new Response('not found\n', { status: 404 });
  };
}

/**
 * The file at `path` below `base`, only if it resolves (symlinks followed) inside `base` itself:
 * a link in one network's folder must not serve another network's file, and a network's folder
 * that is itself a link is not that network's. Undefined when there is no such file.
 */
async function readWithin(base: string, path: string): Promise<Buffer | 'forbidden' | undefined> {
  const file = resolve(base, `.${path}`);
  if (!within(base, file)) return 'forbidden';
  let realBase: string;
  let real: string;
  try {
    realBase = await realpath(base);
    real = await realpath(file);
  } catch {
    return undefined;
  }
  if (realBase !== base || !within(base, real)) return 'forbidden';
  try {
    if (!(await stat(real)).isFile()) return undefined;
    return await readFile(real);
  } catch {
    return undefined;
  }
}

function within(base: string, file: string): boolean {
  return file === base || file.startsWith(base + sep);
}
