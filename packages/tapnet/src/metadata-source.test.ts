import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FetchHandler, HandlerContext } from '@tapnet/metadata-proxy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from './errors.js';
import { folderHandler, handlerFromSource, jsonHandler } from './metadata-source.js';

let root: string;

beforeAll(async () => {
  root = await realpath(await mkdtemp(join(tmpdir(), 'tapnet-metadata-source-')));
  await mkdir(join(root, 'tn0'));
  await mkdir(join(root, 'tn1'));
  await mkdir(join(root, 'default'));
  await writeFile(join(root, 'tn0/config'), 'tn0 config');
  await writeFile(join(root, 'tn1/secret'), 'tn1 secret');
  await writeFile(join(root, 'default/shared'), 'for everyone');
  await mkdir(join(root, 'tn0/sub'));
  await writeFile(join(root, 'tn0/sub/own'), 'tn0 own');
  await symlink('sub/own', join(root, 'tn0/inside-link'));
  await symlink('../tn1/secret', join(root, 'tn0/stolen'));
  await symlink(join(root, 'tn1'), join(root, 'tn2'));
  await writeFile(join(root, 'table.json'), JSON.stringify({ tn0: { '/a': 'x' } }));
  await writeFile(join(root, 'broken.json'), '{');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function ask(handler: FetchHandler, network: string, path: string, method = 'GET') {
  const ctx = { network } as HandlerContext;
  return handler(new Request(`http://169.254.169.254${path}`, { method }), ctx);
}

describe('folderHandler', () => {
  const cases: [string, string, string, number, string?][] = [
    ['serves the network’s own file', 'tn0', '/config', 200, 'tn0 config'],
    ['falls back to default/', 'tn0', '/shared', 200, 'for everyone'],
    ['follows a link that stays in the network’s folder', 'tn0', '/inside-link', 200, 'tn0 own'],
    ['refuses a link into another network’s folder', 'tn0', '/stolen', 403],
    ['refuses a network folder that is a link to another', 'tn2', '/secret', 403],
    [
      'keeps an encoded-dot escape inside the folder (URL parsing resolves it)',
      'tn0',
      '/%2e%2e/tn1/secret',
      404,
    ],
    ['answers 400 for a malformed percent-escape', 'tn0', '/%E0%A4%A', 400],
    ['answers 400 for an encoded NUL', 'tn0', '/config%00', 400],
    ['answers 404 for a missing file', 'tn0', '/nothing', 404],
    ['answers 404 for a folder', 'tn0', '/sub', 404],
    ['does not serve another network’s file by name', 'tn0', '/secret', 404],
  ];
  it.each(cases)('%s', async (_name, network, path, status, body) => {
    const response = await ask(folderHandler(root), network, path);
    expect(response.status).toBe(status);
    if (body !== undefined) expect(await response.text()).toBe(body);
  });

  it('refuses methods other than GET and HEAD with 405', async () => {
    expect((await ask(folderHandler(root), 'tn0', '/config', 'POST')).status).toBe(405);
  });
});

describe('jsonHandler', () => {
  const handler = jsonHandler({
    tn0: { '/text': 'plain', '/json': { a: 1 } },
    '*': { '/any': 'x' },
  });

  it('answers a string as text/plain', async () => {
    const response = await ask(handler, 'tn0', '/text');
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await response.text()).toBe('plain');
  });

  it('answers other values as JSON', async () => {
    expect(await (await ask(handler, 'tn0', '/json')).json()).toEqual({ a: 1 });
  });

  it('uses "*" for networks it does not name', async () => {
    expect(await (await ask(handler, 'tn5', '/any')).text()).toBe('x');
  });

  it('answers 404 for a path the table does not hold (no prototype keys)', async () => {
    expect((await ask(handler, 'tn0', '/constructor')).status).toBe(404);
  });
});

describe('handlerFromSource', () => {
  it('forwards URLs and unix: sockets', async () => {
    expect(await handlerFromSource('http://127.0.0.1:9/x')).toEqual({
      forward: 'http://127.0.0.1:9/x',
    });
    expect(await handlerFromSource('unix:/run/x.sock')).toEqual({ forward: 'unix:/run/x.sock' });
  });

  it('refuses a missing path, bad JSON and a non-object table with InvalidOptionError', async () => {
    for (const source of [join(root, 'nope'), join(root, 'broken.json')]) {
      await expect(handlerFromSource(source)).rejects.toBeInstanceOf(InvalidOptionError);
    }
    await writeFile(join(root, 'array.json'), '[]');
    await expect(handlerFromSource(join(root, 'array.json'))).rejects.toThrow(
      /object keyed by network/,
    );
  });

  it('serves a JSON table file', async () => {
    const handler = (await handlerFromSource(join(root, 'table.json'))) as FetchHandler;
    expect(await (await ask(handler, 'tn0', '/a')).text()).toBe('x');
  });
});
