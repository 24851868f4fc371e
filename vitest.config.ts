import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

const root = import.meta.dirname;
const workspaceDirs = ['packages', 'tooling'].flatMap((base) =>
  readdirSync(resolve(root, base))
    .filter((dir) => existsSync(resolve(root, base, dir, 'package.json')))
    .map((dir) => `${base}/${dir}`),
);

// Tests import sibling packages from source, so a test run never depends on a stale build.
const alias = workspaceDirs.map((dir) => {
  const pkg = JSON.parse(readFileSync(resolve(root, dir, 'package.json'), 'utf8')) as {
    name: string;
  };
  return {
    find: new RegExp(`^${pkg.name.replace('/', '\\/')}$`),
    replacement: resolve(root, dir, 'src/index.ts'),
  };
});
export default defineConfig({
  resolve: { alias },
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      ...workspaceDirs.map((dir) => ({
        extends: true as const,
        test: { name: basename(dir), root: resolve(root, dir), include: ['src/**/*.test.ts'] },
      })),
      {
        extends: true as const,
        test: { name: 'scripts', root: resolve(root, 'scripts'), include: ['**/*.test.ts'] },
      },
      ...(existsSync(resolve(root, 'e2e/package.json'))
        ? [
            {
              extends: true as const,
              test: {
                name: 'e2e',
                root: resolve(root, 'e2e'),
                include: ['**/*.test.ts'],
                exclude: ['**/node_modules/**'],
              },
            },
          ]
        : []),
    ],
  },
});
