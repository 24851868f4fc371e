// The packages as a consumer installs them: each published package packed with pnpm (as a
// release would be), then checked by publint and by @arethetypeswrong/cli (ESM-only profile:
// the packages are ESM; `require()` reaches them through Node's require(esm) from 22.12).
// Run by `pnpm lint` after a build.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const root = resolve(import.meta.dirname, '..');
const dirs = readdirSync(join(root, 'packages'))
  .map((d) => join(root, 'packages', d))
  .filter((d) => {
    try {
      return !JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')).private;
    } catch {
      return false;
    }
  });
const attw = join(root, 'node_modules/.bin/attw');
const out = mkdtempSync(join(tmpdir(), 'tapnet-pack-'));
let problems = 0;
try {
  for (const dir of dirs) {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const { messages } = await publint({ pkgDir: dir, strict: true, pack: 'pnpm' });
    for (const m of messages) {
      problems += 1;
      console.log(`${pkg.name}: publint ${m.type}: ${formatMessage(m, pkg) ?? m.code}`);
    }
    execFileSync('pnpm', ['pack', '--pack-destination', out], { cwd: dir, stdio: 'ignore' });
    const prefix = pkg.name.replace('@', '').replace('/', '-');
    const tarball = readdirSync(out).find((f) => f.startsWith(prefix));
    if (!tarball) throw new Error(`Expected a tarball starting ${prefix} in ${out}, got none`);
    try {
      execFileSync(attw, [join(out, tarball), '--profile', 'esm-only', '--format', 'ascii'], {
        stdio: 'pipe',
      });
      console.log(`${pkg.name}: publint and attw clean`);
    } catch (error) {
      problems += 1;
      console.log(`${pkg.name}: attw:\n${(error as { stdout?: string }).stdout}`);
    }
    rmSync(join(out, tarball));
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
process.exit(problems > 0 ? 1 : 0);
