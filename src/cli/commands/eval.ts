import type { CommandSpec } from '../command.js';
import { requireOption } from '../command.js';
import { evalCommand } from '../commands.js';

export const evalSpec: CommandSpec = {
  name: 'eval',
  summary: "Evaluate a run folder's model: mIoU, per-class IoU, pixel accuracy; single- or multi-scale (+ flip), with a T_eval override",
  synopsis: '--run DIR [config flags]',
  configFlags: true,
  options: {
    run: { type: 'string', value: 'DIR', help: "run folder written by 'hemnet train'" },
  },
  run: async ({ values, flags, io }) => {
    await evalCommand({ run: requireOption('eval', '--run DIR', values.run, "a folder written by 'hemnet train'"), flags }, io);
    return 0;
  },
};
