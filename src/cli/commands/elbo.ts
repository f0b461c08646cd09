import { setBackend } from '../../backend.js';
import { KERNELS, type Kernel } from '../../em/validate.js';
import { checkOneOf } from '../../schema.js';
import type { CommandSpec } from '../command.js';
import { numberOption, stringOption } from '../command.js';
import { formatElboTable, runElboDemo } from '../elbo.js';

export const elboSpec: CommandSpec = {
  name: 'elbo',
  summary: 'Unrolled HEM on MNIST test digits as points (C = 784): the ELBO (Eq. 3) per iteration for several step sizes η (paper Fig. 3a)',
  synopsis: '[options]',
  configFlags: false,
  options: {
    points: { type: 'string', value: 'N', help: 'digits per batch item (N of x [B, N, C]; default 1000)' },
    batch: { type: 'string', value: 'B', help: 'batch items (default 2)' },
    bases: { type: 'string', value: 'K', help: 'Gaussian bases K (default 16)' },
    iterations: { type: 'string', value: 'T', help: 'unrolled iterations T (default 8)' },
    'step-sizes': { type: 'string', value: 'L', help: 'comma-separated η values in (0, 1] (default 0.2,0.5,0.8,1)' },
    kernel: { type: 'string', value: 'K', help: 'dot (Eq. 8) | rbf (Eq. 7) (default dot)' },
    'elbo-temperature': { type: 'string', value: 'S', help: 'σ² (default 4; √C = 28 is so flat for raw pixels that every basis collapses onto the mean)' },
    'elbo-seed': { type: 'string', value: 'S', help: 'seed of the noise added to μ⁽⁰⁾ (default 1)' },
    backend: { type: 'string', value: 'NAME', help: 'wasm | cpu | tensorflow | auto' },
  },
  run: async ({ values, io }) => {
    const backend = await setBackend(stringOption(values.backend) ?? 'auto');
    const kernel: Kernel = checkOneOf('hemnet elbo', '--kernel', stringOption(values.kernel) ?? 'dot', KERNELS);
    const options = {
      points: numberOption('points', values.points, 1000),
      batch: numberOption('batch', values.batch, 2),
      bases: numberOption('bases', values.bases, 16),
      iterations: numberOption('iterations', values.iterations, 8),
      stepSizes: (stringOption(values['step-sizes']) ?? '0.2,0.5,0.8,1').split(',').map((s) => numberOption('step-sizes', s, NaN)),
      kernel,
      seed: numberOption('elbo-seed', values['elbo-seed'], 1),
      temperature: numberOption('elbo-temperature', values['elbo-temperature'], 4),
    };
    io.out(
      `backend ${backend.name}; x = [${options.batch}, ${options.points}, 784] MNIST test digits, K = ${options.bases}, kernel ${kernel}, σ² = ${options.temperature}\n` +
        'mean ELBO per iteration (t = 0: before the first N-step):\n',
    );
    io.out(`${formatElboTable(runElboDemo(options))}\n`);
    return 0;
  },
};
