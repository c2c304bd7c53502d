#!/usr/bin/env node
// `npx splade <command>`: each command lives in its own module under lib/cli/commands and is loaded
// only when named, so `--help` stays instant and a command's dependencies load with it.
import { SpladeError } from '../errors.js';
import { setThreads } from '../info.js';
import { commands } from './commands.js';

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: splade <command> [options] [--threads N]\n\ncommands:\n${lines.join('\n')}\n\n'splade <command> --help' shows a command's options; --threads N sizes the native thread pool.`;
}

/** `--threads N` works with every command: it sizes the native pool before the command runs. */
function takeThreads(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const m = /^--threads(?:=(.*))?$/.exec(argv[i]);
    if (!m) {
      out.push(argv[i]);
      continue;
    }
    const value = m[1] ?? argv[++i];
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new SpladeError(`--threads must be a positive integer, got ${String(value)}`);
    setThreads(n);
  }
  return out;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 1;
  }
  const command = commands[name];
  if (!command) {
    console.error(`splade: unknown command '${name}'\n\n${usage()}`);
    return 1;
  }
  try {
    const args = takeThreads(rest);
    const mod = await command.load();
    return (await mod.run(args)) ?? 0;
  } catch (err) {
    if (err instanceof SpladeError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`splade ${name}: ${(err as Error).message}`);
      return 2;
    }
    throw err;
  }
}

const invokedDirectly = process.argv[1] && /(?:^|[\\/])(main\.[jt]s|splade)$/.test(process.argv[1]);
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
