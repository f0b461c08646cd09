import type { CommandSpec } from '../command.js';
import { stringOption } from '../command.js';
import { trainCommand } from '../commands.js';

export const trainSpec: CommandSpec = {
  name: 'train',
  summary: 'Train a segmentation model (default: HEMNet on the built-in MNIST scenes), evaluate it and write a run folder',
  synopsis: '[--config FILE] [--out DIR] [--resume | --overwrite] [config flags]',
  description:
    'Writes checkpoints, the model, metrics.json, loss.png, predictions.png and attention.png into the run folder.',
  configFlags: true,
  options: {
    config: { type: 'string', value: 'FILE', help: 'JSON run config (sections backend, model, data, train, eval; unknown keys are errors); flags override it' },
    out: { type: 'string', value: 'DIR', help: 'run folder (default runs/default)' },
    resume: { type: 'boolean', help: "continue the run folder's latest checkpoint" },
    overwrite: { type: 'boolean', help: 'delete an existing run folder first' },
  },
  run: async ({ values, flags, io }) => {
    const configPath = stringOption(values.config);
    await trainCommand(
      {
        ...(configPath !== undefined ? { configPath } : {}),
        flags,
        out: stringOption(values.out) ?? 'runs/default',
        resume: values.resume === true,
        overwrite: values.overwrite === true,
      },
      io,
    );
    return 0;
  },
};
