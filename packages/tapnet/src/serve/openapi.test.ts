import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from './openapi.js';
import { ROUTES } from './routes.js';

const { version } = JSON.parse(
  readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8'),
) as {
  version: string;
};
const docsFile = resolve(import.meta.dirname, '../../../../docs/openapi.json');
const document = openApiDocument(version);

/** docs/openapi.json as it must read. */
const rendered = `${JSON.stringify(document, null, 2)}\n`;

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1 by a real validator', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('has every route of the server, and no route the server lacks', () => {
    const served = ROUTES.map((r) => `${r.method} ${r.path} ${r.operation}`).sort();
    const documented = Object.entries(document.paths)
      .flatMap(([path, item]) =>
        Object.entries(item)
          .filter(([key]) => ['get', 'put', 'post', 'delete', 'patch', 'head'].includes(key))
          .map(
            ([method, op]) =>
              `${method.toUpperCase()} ${path} ${(op as { operationId: string }).operationId}`,
          ),
      )
      .sort();
    expect(documented).toEqual(served);
  });

  it('is what docs/openapi.json holds (regenerate: TAPNET_WRITE_OPENAPI=1 with this test)', async () => {
    if (process.env.TAPNET_WRITE_OPENAPI === '1') {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(docsFile, rendered);
    }
    expect(readFileSync(docsFile, 'utf8')).toBe(rendered);
  });
});
