import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FetchHandler } from '@tapnet/metadata-proxy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveHandler } from './handler-spec.js';
import { parseHandler } from './request.js';

let base: string;
let root: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'tapnet-handler-root-'));
  root = join(base, 'root');
  await mkdir(join(root, 'site', 'default'), { recursive: true });
  await writeFile(join(root, 'site', 'default', 'hello'), 'hi');
  await writeFile(join(root, 'table.json'), JSON.stringify({ '*': { '/a': 'b' } }));
  await mkdir(join(base, 'outside'));
  await writeFile(join(base, 'outside', 'secret'), 'no');
  // Links inside the root that lead out of it.
  await symlink(join(base, 'outside'), join(root, 'escape'));
  await symlink(join(base, 'outside', 'secret'), join(root, 'secret.json'));
});

afterAll(() => rm(base, { recursive: true, force: true }));

const spec = (source: string) => {
  const parsed = parseHandler(source, { handlerRoot: root });
  if (parsed === null) throw new Error('no spec');
  return parsed;
};
const ask = (handler: unknown, path: string) =>
  (handler as FetchHandler)(new Request(`http://169.254.169.254${path}`), {
    network: 'tn0',
    remoteAddress: '10.0.0.2',
  } as never);

describe('resolveHandler', () => {
  it('serves a folder and a JSON file inside the root', async () => {
    const folder = await resolveHandler(spec(join(root, 'site')), root);
    expect(await (await ask(folder, '/hello')).text()).toBe('hi');
    const table = await resolveHandler(spec(join(root, 'table.json')), root);
    expect(await (await ask(table, '/a')).text()).toBe('b');
  });

  it('takes a unix socket whose folder is inside the root, even before the socket exists', async () => {
    expect(await resolveHandler(spec(`unix:${join(root, 'later.sock')}`), root)).toEqual({
      forward: `unix:${join(root, 'later.sock')}`,
    });
  });

  it.each([['escape'], ['secret.json'], ['escape/x.sock']])(
    'refuses %s: a link inside the root leading out',
    async (name) => {
      const source = name.endsWith('.sock') ? `unix:${join(root, name)}` : join(root, name);
      await expect(resolveHandler(spec(source), root)).rejects.toMatchObject({
        status: 400,
        code: 'ERR_PATH_REFUSED',
        option: 'handler',
      });
    },
  );

  it('refuses what is not there, and any path without a root', async () => {
    await expect(resolveHandler(spec(join(root, 'nothing')), root)).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
    });
    await expect(resolveHandler(spec(join(root, 'site')), undefined)).rejects.toMatchObject({
      code: 'ERR_PATH_REFUSED',
    });
  });
});
