import type { CommandSpec } from '../command.js';
import { numberOption, requireOption, stringOption } from '../command.js';
import { predictCommand } from '../commands.js';

export const predictSpec: CommandSpec = {
  name: 'predict',
  summary: 'Write colour-mapped masks, overlays and HEM attention maps (PNG) for validation images or image files',
  synopsis: '--run DIR [--images FILES] [--count N] [--out DIR]',
  configFlags: true,
  options: {
    run: { type: 'string', value: 'DIR', help: "run folder written by 'hemnet train'" },
    out: { type: 'string', value: 'DIR', help: 'output folder (default <run>/predict)' },
    images: { type: 'string', value: 'FILES', help: 'comma-separated image files' },
    count: { type: 'string', value: 'N', help: 'number of validation images when no --images (default 4)' },
  },
  run: async ({ values, flags, io }) => {
    const run = requireOption('predict', '--run DIR', values.run, "a folder written by 'hemnet train'");
    const images = stringOption(values.images);
    await predictCommand(
      {
        run,
        out: stringOption(values.out) ?? `${run}/predict`,
        images: images === undefined ? [] : images.split(',').filter(Boolean),
        count: numberOption('count', values.count, 4),
        ...(flags.backend !== undefined ? { backend: flags.backend } : {}),
        ...(flags.eval !== undefined ? { eval: flags.eval } : {}),
      },
      io,
    );
    return 0;
  },
};
