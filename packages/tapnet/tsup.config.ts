import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/bin.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node22',
  // The private kit is bundled in, so a consumer installs this one package.
  noExternal: ['@tapnet/internal'],
});
