/**
 * The contract of a `hemnet` subcommand. Every command is one `CommandSpec`
 * in one file under `src/cli/commands/`, listed once in
 * `src/cli/commands/index.ts`; `main` parses, prints help and dispatches
 * from that list alone.
 */
import type { PartialRunConfig } from '../train/runConfig.js';

/** Where a command writes: stdout, stderr, and the stream progress bars draw on. */
export interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
  progressStream?: NodeJS.WriteStream;
  /** --quiet: no progress lines (results still go to `out`, errors to `err`). */
  quiet?: boolean;
}

/** One command-specific option (run-config flags come from `flags.ts`). */
export interface CommandOptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder in help, e.g. 'DIR' (string options only). */
  value?: string;
  help: string;
}

export interface CommandContext {
  /** Parsed option values (command options and run-config flags). */
  values: Record<string, string | boolean | undefined>;
  /** Positional arguments after the command name (e.g. `sweep run FILE` → ['run', 'FILE']). */
  positionals: string[];
  /** Run-config flags as a partial run config (empty when `configFlags` is false). */
  flags: PartialRunConfig;
  io: Output;
}

export interface CommandSpec {
  name: string;
  /** One line for `hemnet --help`. */
  summary: string;
  /** Argument synopsis after the name, e.g. '[options]' or 'run SWEEP.json'. */
  synopsis: string;
  /** Longer text for `hemnet <name> --help` (optional). */
  description?: string;
  options: Readonly<Record<string, CommandOptionSpec>>;
  /** Whether the run-config flags (--steps, --head, …) apply to this command. */
  configFlags: boolean;
  /** Largest number of positionals accepted (default 0). */
  maxPositionals?: number;
  /** Runs the command; resolves to the process exit code. */
  run: (context: CommandContext) => Promise<number>;
}

/** A number-valued command option, with the CLI's error text. */
export function numberOption(flag: string, value: string | boolean | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const text = String(value);
  const parsed = Number(text);
  if (text.trim() === '' || !Number.isFinite(parsed)) throw new Error(`hemnet: '--${flag}' must be a number, received '${text}'`);
  return parsed;
}

/** A required string option, with the CLI's error text: `usage` is e.g. '--run DIR'. */
export function requireOption(command: string, usage: string, value: string | boolean | undefined, meaning: string): string {
  if (typeof value !== 'string' || value === '') throw new Error(`hemnet ${command}: '${usage}' is required (${meaning})`);
  return value;
}

/** A string option or undefined (boolean misuse is a parse error upstream). */
export function stringOption(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
