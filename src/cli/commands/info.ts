import type { CommandSpec } from '../command.js';
import { stringOption } from '../command.js';
import { infoCommand } from '../commands.js';

export const infoSpec: CommandSpec = {
  name: 'info',
  summary: 'Backend, model summary and parameter counts (of a run or a config)',
  synopsis: '[--run DIR | --config FILE] [config flags]',
  configFlags: true,
  options: {
    run: { type: 'string', value: 'DIR', help: "run folder written by 'hemnet train'" },
    config: { type: 'string', value: 'FILE', help: 'JSON run config' },
  },
  run: async ({ values, flags, io }) => {
    const run = stringOption(values.run);
    const configPath = stringOption(values.config);
    await infoCommand({ ...(run !== undefined ? { run } : {}), ...(configPath !== undefined ? { configPath } : {}), flags }, io);
    return 0;
  },
};
