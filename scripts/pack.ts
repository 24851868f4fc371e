// Packs every published package into a folder, as a release would (pnpm turns workspace:* into
// versions), and prints the `pnpm.overrides` a consumer's package.json needs until the packages
// are on a registry: tapnet's dependencies then resolve to these tarballs, not to the registry.
//
// Usage: node scripts/pack.ts DIR   (after a build: ./tapnet.sh setup)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const dest = process.argv[2];
if (!dest) {
  console.error('usage: node scripts/pack.ts DIR');
  process.exit(2);
}
const out = resolve(dest);
mkdirSync(out, { recursive: true });
const root = resolve(import.meta.dirname, '..');
const overrides: Record<string, string> = {};
for (const name of readdirSync(join(root, 'packages'))) {
  const dir = join(root, 'packages', name);
  if (!existsSync(join(dir, 'package.json'))) continue;
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (pkg.private) continue;
  if (!existsSync(join(dir, 'dist/index.js'))) {
    console.error(`${pkg.name} is not built: run ./tapnet.sh setup (or pnpm build) first`);
    process.exit(1);
  }
  execFileSync('pnpm', ['pack', '--pack-destination', out], { cwd: dir, stdio: 'ignore' });
  const file = join(out, `${pkg.name.replace('@', '').replace('/', '-')}-${pkg.version}.tgz`);
  console.error(`packed ${file}`);
  if (pkg.name !== 'tapnet') overrides[pkg.name] = `file:${file}`;
}
process.stdout.write(`${JSON.stringify({ pnpm: { overrides } }, null, 2)}\n`);
