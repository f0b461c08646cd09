#!/usr/bin/env node
/**
 * The `hemnet` command line. The only part of hemnet that touches process,
 * the file system and stdout.
 */
import { parseArgs } from 'node:util';
import { setBackend } from '../backend.js';
import { formatElboTable, runElboDemo } from './elbo.js';
import type { Kernel } from '../em/validate.js';

const USAGE = `hemnet — Highway EM networks on TensorFlow.js

Usage: hemnet <command> [options]

Commands:
  elbo     Unrolled HEM on MNIST digits (built in); prints the ELBO (Eq. 3)
           per iteration for several step sizes η (paper Fig. 3a).

Common options:
  --backend NAME   wasm | cpu | tensorflow | auto (default auto; env HEMNET_BACKEND)
  --help           show this help

elbo options:
  --points N       digits per batch item (N of x [B, N, C]; default 1000)
  --batch B        batch items (default 2)
  --bases K        Gaussian bases K (default 16)
  --iterations T   unrolled iterations T (default 8)
  --step-sizes L   comma-separated η values in (0, 1] (default 0.2,0.5,0.8,1)
  --kernel K       dot (Eq. 8) | rbf (Eq. 7) (default dot)
  --temperature S  σ² of Eq. 7/8 (default 4; √C = 28 is so flat for raw
                   pixels that every basis collapses onto the mean)
  --seed S         seed of the noise added to μ⁽⁰⁾ (default 1)
`;

function parseNumber(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) throw new Error(`hemnet: '--${flag}' must be a number, received '${value}'`);
  return parsed;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      backend: { type: 'string' },
      points: { type: 'string' },
      batch: { type: 'string' },
      bases: { type: 'string' },
      iterations: { type: 'string' },
      'step-sizes': { type: 'string' },
      kernel: { type: 'string' },
      seed: { type: 'string' },
      temperature: { type: 'string' },
    },
  });
  const command = positionals[0];
  if (values.help === true || command === undefined) {
    process.stdout.write(USAGE);
    return command === undefined && values.help !== true ? 1 : 0;
  }
  const backend = await setBackend(values.backend ?? 'auto');
  if (command === 'elbo') {
    const kernel = (values.kernel ?? 'dot') as Kernel;
    const stepSizes = (values['step-sizes'] ?? '0.2,0.5,0.8,1').split(',').map((s) => parseNumber('step-sizes', s, NaN));
    const options = {
      points: parseNumber('points', values.points, 1000),
      batch: parseNumber('batch', values.batch, 2),
      bases: parseNumber('bases', values.bases, 16),
      iterations: parseNumber('iterations', values.iterations, 8),
      stepSizes,
      kernel,
      seed: parseNumber('seed', values.seed, 1),
      temperature: parseNumber('temperature', values.temperature, 4),
    };
    process.stdout.write(
      `backend ${backend.name}; x = [${options.batch}, ${options.points}, 784] MNIST test digits, K = ${options.bases}, kernel ${kernel}, σ² = ${options.temperature}\n` +
        `mean ELBO per iteration (t = 0: before the first N-step):\n`,
    );
    const result = runElboDemo(options);
    process.stdout.write(`${formatElboTable(result)}\n`);
    return 0;
  }
  process.stderr.write(`hemnet: unknown command '${command}'\n\n${USAGE}`);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
