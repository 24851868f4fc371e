// prepublishOnly of every published package: only pnpm turns `workspace:*` into real versions,
// so a publish through npm (or yarn) would ship manifests that cannot install. Refuse it.
const agent = process.env.npm_config_user_agent ?? '';
if (!agent.startsWith('pnpm/')) {
  console.error(
    `Publish tapnet's packages with pnpm (\`pnpm publish\` or \`pnpm -r publish\`), not ${agent.split(' ')[0] || 'this tool'}: only pnpm replaces workspace:* dependencies.`,
  );
  process.exit(1);
}
