#!/usr/bin/env node
/**
 * The `hemnet` command line. The only part of hemnet that touches process,
 * the file system and stdout. Commands come from the registry in
 * `commands/index.ts`; this file parses, prints help and dispatches.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { CommandSpec, Output } from './command.js';
import { COMMAND_REGISTRY, findCommand } from './commands/index.js';
import { configFlagHelp, configFlagOptions, flagsToConfig } from './flags.js';

function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** What the process exit code means (README "The command line" repeats it). */
export const EXIT_CODES = `Exit codes:
  0    success (also: --help, --version)
  1    error: unknown command or option, invalid config or flag, unreadable file, failed run, bad files found by 'data check' (the message is on stderr); no command given
  130  interrupted by Ctrl-C (SIGINT) during 'train': a checkpoint was written, continue with --resume
  143  stopped by SIGTERM during 'train': a checkpoint was written, continue with --resume
`;

function usage(): string {
  const commands = COMMAND_REGISTRY.list();
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `hemnet — Highway Expectation-Maximization networks on TensorFlow.js

Usage: hemnet <command> [options]      hemnet <command> --help for its options

Commands:
${lines.join('\n')}

Global options:
  -h, --help     help (of a command, after its name)
  --version      print the version
  -q, --quiet    no progress lines (results still print; errors go to stderr)

Environment: HEMNET_BACKEND chooses the backend when --backend is auto;
NO_COLOR (or a non-terminal stderr, or TERM=dumb) prints progress as plain lines.

${EXIT_CODES}`;
}

function commandHelp(spec: CommandSpec): string {
  const entries = Object.entries(spec.options).map(([name, o]) => {
    const left = `${o.short !== undefined ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.value ?? 'V'}` : ''}`;
    return [left, o.help] as const;
  });
  const width = Math.max(16, ...entries.map(([left]) => left.length));
  const own = entries.map(([left, help]) => `  ${left.padEnd(width)}  ${help}`).join('\n');
  return (
    `hemnet ${spec.name} — ${spec.summary}\n\nUsage: hemnet ${spec.name} ${spec.synopsis}\n` +
    (spec.description !== undefined ? `\n${spec.description}\n` : '') +
    (own !== '' ? `\nOptions:\n${own}\n` : '') +
    `  ${'-h, --help'.padEnd(width)}  this help\n` +
    `  ${'-q, --quiet'.padEnd(width)}  no progress lines\n` +
    (spec.configFlags ? `\nConfig flags (the bracket names the config key they set):\n${configFlagHelp()}\n` : '') +
    `\n${EXIT_CODES}`
  );
}

export async function main(argv: string[], io: Output): Promise<number> {
  const first = argv[0];
  if (first === undefined || first === '-h' || first === '--help') {
    io.out(usage());
    return first === undefined ? 1 : 0;
  }
  if (first === '--version' || first === '-v') {
    io.out(`${packageVersion()}\n`);
    return 0;
  }
  const spec = findCommand(first);
  if (spec === undefined) {
    io.err(`hemnet: unknown command '${first}' (valid: ${COMMAND_REGISTRY.names().join(', ')})\n`);
    return 1;
  }
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    quiet: { type: 'boolean', short: 'q' },
    ...(spec.configFlags ? configFlagOptions() : {}),
  };
  for (const [name, o] of Object.entries(spec.options)) options[name] = { type: o.type, ...(o.short !== undefined ? { short: o.short } : {}) };
  const { values, positionals } = parseArgs({ args: argv.slice(1), allowPositionals: true, strict: true, options });
  if (values.help === true) {
    io.out(commandHelp(spec));
    return 0;
  }
  const maxPositionals = spec.maxPositionals ?? 0;
  if (positionals.length > maxPositionals) throw new Error(`hemnet ${spec.name}: unexpected argument '${positionals[maxPositionals] ?? ''}'`);
  const parsed = values as Record<string, string | boolean | undefined>;
  const flags = spec.configFlags ? flagsToConfig(parsed) : {};
  return spec.run({ values: parsed, positionals, flags, io: values.quiet === true ? { ...io, quiet: true } : io });
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

const invokedDirectly = isEntryPoint();
if (invokedDirectly) {
  const io: Output = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), progressStream: process.stderr };
  main(process.argv.slice(2), io).then(
    (code) => {
      if (process.exitCode === undefined) process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
