import { realpath } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import type { MetadataHandler } from '@tapnet/metadata-proxy';
import { handlerFromSource, jsonHandler } from '../metadata-source.js';
import { ApiError } from './errors.js';
import type { HandlerSpec } from './request.js';

/**
 * The metadata handler a checked spec names. A path was checked against `handlerRoot` as
 * text by the request parser; here it is checked again with links resolved, so a link inside
 * the root cannot lead out of it. The root itself should be writable only by whom the
 * operator trusts: a socket or file replaced there later is what the handler then reaches.
 */
export async function resolveHandler(
  spec: HandlerSpec,
  handlerRoot: string | undefined,
): Promise<MetadataHandler> {
  if (spec.kind === 'forward') return { forward: spec.url };
  if (spec.kind === 'table') return jsonHandler(spec.table);
  if (handlerRoot === undefined)
    throw new ApiError(400, 'ERR_PATH_REFUSED', 'This daemon serves no paths', 'handler');
  const realRoot = await realpath(handlerRoot);
  const unix = spec.source.startsWith('unix:');
  // A unix socket may be made later: its folder must lie inside already.
  const real = await realpath(unix ? dirname(spec.path) : spec.path).catch(() => undefined);
  if (real === undefined)
    throw new ApiError(
      400,
      'ERR_INVALID_OPTION',
      `Expected \`handler\` to exist, got \`${spec.path}\` (not found)`,
      'handler',
    );
  if (real !== realRoot && !real.startsWith(realRoot + sep))
    throw new ApiError(
      400,
      'ERR_PATH_REFUSED',
      `Expected \`handler\` to lie inside ${handlerRoot} with links resolved, got \`${spec.path}\``,
      'handler',
    );
  return handlerFromSource(unix ? `unix:${join(real, basename(spec.path))}` : real);
}
