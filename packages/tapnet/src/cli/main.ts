import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cleanupCommand } from './commands/cleanup.js';
import { doctorCommand } from './commands/doctor.js';
import { netCommand } from './commands/net.js';
import { runCommand } from './commands/run.js';
import { serveCommand } from './commands/serve.js';
import { statusCommand } from './commands/status.js';
import { upCommand } from './commands/up.js';
import { bashCompletion, zshCompletion } from './completion.js';
import { Output } from './output.js';
import { parseCommandLine } from './parse.js';
import { commandHelp, globalHelp } from './spec.js';

/** The CLI: returns the exit status (0 ok, 1 failure, 2 usage; `run` passes QEMU's on). */
export async function main(
  args: string[],
  out = new Output(args.includes('--json')),
): Promise<number> {
  const parsed = parseCommandLine(args);
  if (parsed.kind === 'version') {
    out.emit({ version: version() }, () => `tapnet ${version()}`);
    return 0;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(parsed.command ? commandHelp(parsed.command) : globalHelp());
    return 0;
  }
  const { command, values, positionals, rest } = parsed;
  switch (command) {
    case 'doctor':
      return doctorCommand(values, out);
    case 'up':
      return upCommand(values, out);
    case 'run':
      return runCommand(values, out, rest);
    case 'serve':
      return serveCommand(values, out);
    case 'status':
      return statusCommand(values, out);
    case 'net':
      return netCommand(values, out, positionals);
    case 'cleanup':
      return cleanupCommand(values, out);
    case 'completion':
      process.stdout.write(positionals[0] === 'zsh' ? zshCompletion() : bashCompletion());
      return 0;
    case 'help':
      process.stdout.write(globalHelp());
      return 0;
  }
}

/** This package's version, from the package.json above this file (src/ or dist/ alike). */
export function version(): string {
  let dir = import.meta.dirname;
  for (let i = 0; i < 4; i++) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tapnet' && pkg.version) return pkg.version;
    }
    dir = dirname(dir);
  }
  return 'unknown';
}
