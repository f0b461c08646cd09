/** `hemnet info`: backend, model summary and parameter counts. */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backendInfo, setBackend } from '../../backend.js';
import { countParameters, summarizeModel } from '../../models/zoo.js';
import type { TrainEvent } from '../../train/loop.js';
import { formatBasesUsage, type HeadBasesUsage } from '../../train/monitor.js';
import { presetRunConfig } from '../../train/presets.js';
import type { PartialRunConfig } from '../../train/runConfig.js';
import type { CommandSpec, Output } from '../command.js';
import { stringOption } from '../command.js';
import { assembleConfig, buildModel, loadRunModel } from '../run.js';

/** `hemnet info`: backend, model summary and parameter counts. */
export async function infoCommand(options: { run?: string; configPath?: string; preset?: string; flags: PartialRunConfig }, io: Output): Promise<void> {
  const { model } =
    options.run !== undefined ? await loadRunModel(options.run, options.flags.backend, (note) => io.err(`${note}\n`)) : await (async () => {
      const c = await assembleConfig(options.configPath, options.flags, options.preset !== undefined ? presetRunConfig(options.preset) : undefined);
      await setBackend(c.backend);
      return { model: buildModel(c), config: c };
    })();
  const backend = backendInfo();
  io.out(`backend: ${backend.name} (requested ${backend.requested}; tfjs ${backend.tfjsVersion}; ${backend.isNode ? 'Node' : 'browser'})\n`);
  for (const note of backend.notes) io.out(`note: ${note}\n`);
  io.out(`${summarizeModel(model)}\n`);
  io.out(`parameters: ${countParameters(model, 'all').toLocaleString('en')} (trainable ${countParameters(model, 'trainable').toLocaleString('en')}, non-trainable ${countParameters(model, 'nonTrainable').toLocaleString('en')})\n`);
  if (options.run !== undefined) {
    const files = await readdir(options.run);
    io.out(`run folder: ${files.sort().join(', ')}\n`);
    io.out(await runMonitorSummary(options.run));
  }
}

/**
 * The run's bases usage: the 'monitor' events of train-log.jsonl (effective
 * bases per head over training, gradient norm at the backbone output) and
 * the evaluation's in metrics.json. Empty when the run recorded none.
 */
export async function runMonitorSummary(dir: string): Promise<string> {
  const lines: string[] = [];
  const logPath = join(dir, 'train-log.jsonl');
  if (existsSync(logPath)) {
    const monitors = (await readFile(logPath, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as TrainEvent)
      .filter((e): e is Extract<TrainEvent, { type: 'monitor' }> => e.type === 'monitor');
    for (const e of monitors) {
      const bases = e.bases.map((b) => `${b.head} ${b.effectiveBases.toFixed(2)}/${b.share.length}`).join(', ');
      const gradient = e.backboneGradientNorm !== null ? ` · ‖∂L/∂backbone‖ ${e.backboneGradientNorm.toExponential(3)}` : '';
      const validation = e.validation != null ? ` · val mIoU ${(e.validation.meanIoU * 100).toFixed(1)} (${e.validation.samples} images)` : '';
      lines.push(`monitor step ${e.step}: effective bases ${bases || '(no HEM head)'}${gradient}${validation}`);
    }
  }
  const metricsPath = join(dir, 'metrics.json');
  if (existsSync(metricsPath)) {
    const metrics = JSON.parse(await readFile(metricsPath, 'utf8')) as { miou?: number; bases?: HeadBasesUsage[] };
    if (Array.isArray(metrics.bases) && metrics.bases.length > 0) lines.push(`evaluation (val): ${formatBasesUsage(metrics.bases).split('\n').join('; ')}`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

export const infoSpec: CommandSpec = {
  name: 'info',
  summary: 'Backend, model summary and parameter counts (of a run or a config)',
  synopsis: '[--run DIR | [--preset NAME] [--config FILE]] [config flags]',
  configFlags: true,
  options: {
    run: { type: 'string', value: 'DIR', help: "run folder written by 'hemnet train'" },
    config: { type: 'string', value: 'FILE', help: 'JSON run config' },
    preset: { type: 'string', value: 'NAME', help: 'a built-in run preset (hemnet train --help lists them)' },
  },
  run: async ({ values, flags, io }) => {
    const run = stringOption(values.run);
    const configPath = stringOption(values.config);
    const preset = stringOption(values.preset);
    await infoCommand({ ...(run !== undefined ? { run } : {}), ...(configPath !== undefined ? { configPath } : {}), ...(preset !== undefined ? { preset } : {}), flags }, io);
    return 0;
  },
};
