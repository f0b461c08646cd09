/** `hemnet info`: backend, model summary and parameter counts. */
import { readdir } from 'node:fs/promises';
import { backendInfo, setBackend } from '../../backend.js';
import { countParameters, summarizeModel } from '../../models/zoo.js';
import type { PartialRunConfig } from '../../train/runConfig.js';
import type { CommandSpec, Output } from '../command.js';
import { stringOption } from '../command.js';
import { assembleConfig, buildModel, loadRunModel } from '../run.js';

/** `hemnet info`: backend, model summary and parameter counts. */
export async function infoCommand(options: { run?: string; configPath?: string; flags: PartialRunConfig }, io: Output): Promise<void> {
  const { model } =
    options.run !== undefined ? await loadRunModel(options.run, options.flags.backend, (note) => io.err(`${note}\n`)) : await (async () => {
      const c = await assembleConfig(options.configPath, options.flags);
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
  }
}

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
