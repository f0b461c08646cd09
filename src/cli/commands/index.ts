/**
 * The command registry: every `hemnet` subcommand, in help order. Adding a
 * command is one file in this folder exporting a `CommandSpec` and one line
 * here.
 */
import type { CommandSpec } from '../command.js';
import { dataSpec } from './data.js';
import { elboSpec } from './elbo.js';
import { evalSpec } from './eval.js';
import { infoSpec } from './info.js';
import { predictSpec } from './predict.js';
import { trainSpec } from './train.js';

export const COMMANDS: readonly CommandSpec[] = [
  trainSpec,
  evalSpec,
  predictSpec,
  infoSpec,
  elboSpec,
  dataSpec,
];

/** The registered command of that name, or undefined. */
export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}
