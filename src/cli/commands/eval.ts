/** `hemnet eval`: evaluate a run folder's model (latest checkpoint or saved model). */
import { rename, writeFile } from 'node:fs/promises';
import { backendInfo } from '../../backend.js';
import type { EvaluationResult } from '../../train/evaluate.js';
import { mergeRunConfig, type PartialRunConfig } from '../../train/runConfig.js';
import type { CommandSpec, Output } from '../command.js';
import { requireOption, stringOption } from '../command.js';
import { formatBasesUsage } from '../../train/monitor.js';
import { createDatasets, evaluateWithProgress, formatMetrics, loadRunModel } from '../run.js';

/** `hemnet eval`: evaluate a run folder's model (latest checkpoint or saved model). */
export async function evalCommand(options: { run: string; flags: PartialRunConfig }, io: Output): Promise<EvaluationResult['metrics']> {
  const { model, config: runConfig, step } = await loadRunModel(options.run, options.flags.backend, (note) => io.err(`${note}\n`));
  const config = mergeRunConfig(runConfig, { ...(options.flags.eval ? { eval: options.flags.eval } : {}), ...(options.flags.data ? { data: options.flags.data } : {}) }, 'flags');
  const backend = backendInfo();
  const evalIterations = options.flags.model?.hem?.evalIterations ?? config.eval.evalIterations;
  io.out(`backend ${backend.name} · ${options.run} (step ${Number.isNaN(step) ? 'final' : step}) · scales [${config.eval.scales.join(', ')}]${config.eval.flip ? ' + flip' : ''}${evalIterations !== null ? ` · T_eval ${evalIterations}` : ''}\n`);
  const { val } = await createDatasets(config, 'val');
  const result = await evaluateWithProgress(model, config, io, evalIterations, val);
  io.out(`${formatMetrics(result, val.classNames)}\n`);
  if (result.bases.length > 0) io.out(`${formatBasesUsage(result.bases)}\n`);
  return result.metrics;
}

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
