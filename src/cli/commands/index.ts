/**
 * The command registry: every `hemnet` subcommand, in help order. Adding a
 * command is one file in this folder exporting a `CommandSpec` and one line
 * in `COMMANDS` here (or `COMMAND_REGISTRY.register(spec)` at run time).
 */
import { Registry } from '../../registry.js';
import type { CommandSpec } from '../command.js';
import { dataSpec } from './data.js';
import { elboSpec } from './elbo.js';
import { evalSpec } from './eval.js';
import { importSpec } from './import.js';
import { exportSpec } from './export.js';
import { infoSpec } from './info.js';
import { predictSpec } from './predict.js';
import { sweepSpec } from './sweep.js';
import { trainSpec } from './train.js';
import { workerSpec } from './worker.js';

export const COMMANDS: readonly CommandSpec[] = [
  trainSpec,
  evalSpec,
  predictSpec,
  infoSpec,
  elboSpec,
  importSpec,
  exportSpec,
  sweepSpec,
  workerSpec,
  dataSpec,
];

/** The commands by name: `main` dispatches, lists and helps from this. */
export const COMMAND_REGISTRY = new Registry<CommandSpec>('command', COMMANDS);

/** The registered command of that name, or undefined. */
export function findCommand(name: string): CommandSpec | undefined {
  return COMMAND_REGISTRY.has(name) ? COMMAND_REGISTRY.get(name) : undefined;
}
