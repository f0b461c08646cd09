import { rename, writeFile } from 'node:fs/promises';
import type { CommandSpec } from '../command.js';
import { requireOption, stringOption } from '../command.js';
import { evalCommand } from '../commands.js';

export const evalSpec: CommandSpec = {
  name: 'eval',
  summary: "Evaluate a run folder's model: mIoU, per-class IoU, pixel accuracy; single- or multi-scale (+ flip), with a T_eval override",
  synopsis: '--run DIR [config flags]',
  configFlags: true,
  options: {
    run: { type: 'string', value: 'DIR', help: "run folder written by 'hemnet train'" },
    json: { type: 'string', value: 'FILE', help: 'also write the metrics (and the eval settings) to this JSON file' },
  },
  run: async ({ values, flags, io }) => {
    const metrics = await evalCommand({ run: requireOption('eval', '--run DIR', values.run, "a folder written by 'hemnet train'"), flags }, io);
    const json = stringOption(values.json);
    if (json !== undefined) {
      const tmp = `${json}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify({ ...metrics, flags: { eval: flags.eval ?? {}, evalIterations: flags.model?.hem?.evalIterations ?? null } }, null, 2)}\n`);
      await rename(tmp, json);
    }
    return 0;
  },
};
