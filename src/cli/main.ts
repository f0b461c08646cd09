#!/usr/bin/env node
/**
 * The `hemnet` command line. The only part of hemnet that touches process,
 * the file system and stdout.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { setBackend } from '../backend.js';
import { evalCommand, infoCommand, predictCommand, trainCommand, type Output } from './commands.js';
import { formatElboTable, runElboDemo } from './elbo.js';
import { configFlagHelp, configFlagOptions, flagsToConfig } from './flags.js';
import type { Kernel } from '../em/validate.js';

const USAGE = `hemnet — Highway Expectation-Maximization networks on TensorFlow.js

Usage: hemnet <command> [options]

Commands:
  train     Train a segmentation model (default: HEMNet on the built-in MNIST
            scenes), evaluate it and write a run folder (checkpoints, model,
            metrics.json, loss.png, predictions.png, attention.png).
  eval      Evaluate a run folder's model: mIoU, per-class IoU, pixel accuracy;
            single- or multi-scale (+ flip), with a T_eval override.
  predict   Write colour-mapped masks, overlays and HEM attention maps (PNG)
            for images of the validation split or for image files.
  info      Backend, model summary and parameter counts (of a run or a config).
  elbo      Unrolled HEM on MNIST digits: the ELBO (Eq. 3) per iteration for
            several step sizes η (paper Fig. 3a).

Run options:
  --config FILE        JSON run config (sections backend, model, data, train,
                       eval; unknown keys are errors); flags override it
  --out DIR            run folder of 'train' (default runs/default); output
                       folder of 'predict' (default <run>/predict)
  --run DIR            run folder to read ('eval', 'predict', 'info')
  --resume             continue the run folder's latest checkpoint
  --overwrite          delete an existing run folder first
  --images FILES       comma-separated image files for 'predict'
  --count N            'predict': number of validation images (default 4)
  -h, --help           this help

Config flags (the bracket names the config key they set):
${configFlagHelp()}

elbo options:
  --points N  --batch B  --bases K  --iterations T  --step-sizes L  --kernel K
  --elbo-temperature S  --elbo-seed S   (see 'hemnet elbo --help')

Environment: HEMNET_BACKEND chooses the backend when --backend is auto.
`;

const ELBO_USAGE = `hemnet elbo — unrolled HEM on MNIST test digits as points (C = 784)

  --points N            digits per batch item (N of x [B, N, C]; default 1000)
  --batch B             batch items (default 2)
  --bases K             Gaussian bases K (default 16)
  --iterations T        unrolled iterations T (default 8)
  --step-sizes L        comma-separated η values in (0, 1] (default 0.2,0.5,0.8,1)
  --kernel K            dot (Eq. 8) | rbf (Eq. 7) (default dot)
  --elbo-temperature S  σ² (default 4; √C = 28 is so flat for raw pixels that
                        every basis collapses onto the mean)
  --elbo-seed S         seed of the noise added to μ⁽⁰⁾ (default 1)
  --backend NAME        wasm | cpu | tensorflow | auto
`;

function numberFlag(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new Error(`hemnet: '--${flag}' must be a number, received '${value}'`);
  return parsed;
}

export async function main(argv: string[], io: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      config: { type: 'string' },
      out: { type: 'string' },
      run: { type: 'string' },
      resume: { type: 'boolean' },
      overwrite: { type: 'boolean' },
      images: { type: 'string' },
      count: { type: 'string' },
      points: { type: 'string' },
      batch: { type: 'string' },
      bases: { type: 'string' },
      iterations: { type: 'string' },
      'step-sizes': { type: 'string' },
      'elbo-temperature': { type: 'string' },
      'elbo-seed': { type: 'string' },
      ...configFlagOptions(),
    },
  });
  const command = positionals[0];
  if (positionals.length > 1) throw new Error(`hemnet: unexpected argument '${positionals[1]}'`);
  if (command === 'elbo' && values.help === true) {
    io.out(ELBO_USAGE);
    return 0;
  }
  if (values.help === true || command === undefined) {
    io.out(USAGE);
    return command === undefined && values.help !== true ? 1 : 0;
  }
  const flags = flagsToConfig(values as Record<string, string | boolean | undefined>);
  switch (command) {
    case 'train':
      await trainCommand(
        {
          ...(values.config !== undefined ? { configPath: values.config } : {}),
          flags,
          out: values.out ?? 'runs/default',
          resume: values.resume === true,
          overwrite: values.overwrite === true,
        },
        io,
      );
      return 0;
    case 'eval':
      await evalCommand({ run: requireRun(values.run, 'eval'), flags }, io);
      return 0;
    case 'predict': {
      const run = requireRun(values.run, 'predict');
      await predictCommand(
        {
          run,
          out: values.out ?? `${run}/predict`,
          images: values.images === undefined ? [] : values.images.split(',').filter(Boolean),
          count: numberFlag('count', values.count, 4),
          ...(flags.backend !== undefined ? { backend: flags.backend } : {}),
        },
        io,
      );
      return 0;
    }
    case 'info':
      await infoCommand({ ...(values.run !== undefined ? { run: values.run } : {}), ...(values.config !== undefined ? { configPath: values.config } : {}), flags }, io);
      return 0;
    case 'elbo': {
      const backend = await setBackend(flags.backend ?? 'auto');
      const kernel: Kernel = flags.model?.hem?.kernel ?? 'dot';
      const options = {
        points: numberFlag('points', values.points, 1000),
        batch: numberFlag('batch', values.batch, 2),
        bases: numberFlag('bases', values.bases, 16),
        iterations: numberFlag('iterations', values.iterations, 8),
        stepSizes: (values['step-sizes'] ?? '0.2,0.5,0.8,1').split(',').map((s) => numberFlag('step-sizes', s, NaN)),
        kernel,
        seed: numberFlag('elbo-seed', values['elbo-seed'], 1),
        temperature: numberFlag('elbo-temperature', values['elbo-temperature'], 4),
      };
      io.out(
        `backend ${backend.name}; x = [${options.batch}, ${options.points}, 784] MNIST test digits, K = ${options.bases}, kernel ${kernel}, σ² = ${options.temperature}\n` +
          'mean ELBO per iteration (t = 0: before the first N-step):\n',
      );
      io.out(`${formatElboTable(runElboDemo(options))}\n`);
      return 0;
    }
    default:
      io.err(`hemnet: unknown command '${command}' (valid: train, eval, predict, info, elbo)\n`);
      return 1;
  }
}

function requireRun(run: string | undefined, command: string): string {
  if (run === undefined) throw new Error(`hemnet ${command}: '--run DIR' is required (a folder written by 'hemnet train')`);
  return run;
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

const invokedDirectly = isEntryPoint();
if (invokedDirectly) {
  const io: Output = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), progressStream: process.stderr };
  main(process.argv.slice(2), io).then(
    (code) => {
      if (process.exitCode === undefined) process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
