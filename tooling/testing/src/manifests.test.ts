// The published packages' manifests, as a consumer installs them: checked by value (no root).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { publint } from 'publint';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
interface Manifest {
  name: string;
  private?: boolean;
  exports?: Record<string, Record<string, string>>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
}
const read = (dir: string) =>
  JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
const workspace = ['packages', 'tooling']
  .flatMap((base) => readdirSync(join(root, base)).map((d) => join(root, base, d)))
  .filter((d) => existsSync(join(d, 'package.json')));
const privateNames = new Set(
  workspace
    .map(read)
    .filter((m) => m.private)
    .map((m) => m.name),
);
const published = workspace.filter((d) => !read(d).private);

describe.each(published.map((dir) => [read(dir).name, dir] as const))('%s', (_name, dir) => {
  const manifest = read(dir);

  it('names no private workspace package in any dependency field', () => {
    const named = [
      manifest.dependencies,
      manifest.devDependencies,
      manifest.peerDependencies,
    ].flatMap((deps) => Object.keys(deps ?? {}));
    expect(named.filter((n) => privateNames.has(n))).toEqual([]);
  });

  it('exports types first and a default condition (require(esm) on Node >= 22.12)', () => {
    const conditions = Object.keys(manifest.exports?.['.'] ?? {});
    expect(conditions[0]).toBe('types');
    expect(conditions.at(-1)).toBe('default');
  });

  it('ships the license the manifest names', () => {
    expect(readFileSync(join(dir, 'LICENSE'), 'utf8')).toBe(
      readFileSync(join(root, 'LICENSE'), 'utf8'),
    );
  });

  it('can only be published through pnpm (npm would ship workspace:* versions)', () => {
    expect(manifest.scripts?.prepublishOnly).toBe('node ../../scripts/publish-guard.ts');
  });

  it.skipIf(!existsSync(join(dir, 'dist/index.js')))('passes publint (strict)', async () => {
    const { messages } = await publint({ pkgDir: dir, strict: true, pack: false });
    expect(messages).toEqual([]);
  });
});
