/**
 * Named run presets: partial run configs shipped with the package, merged
 * over the defaults before a config file and the flags (`hemnet train
 * --preset NAME`). Adding one is a file in src/train/presets/ exporting a
 * `RunPreset` and one entry here (or `RUN_PRESETS.register(spec)`); every
 * preset is validated by the run-config schema when it is used.
 */
import { Registry, type Named } from '../registry.js';
import { attentionBench } from './presets/attentionBench.js';
import { defaultRunConfig, mergeRunConfig, type PartialRunConfig, type RunConfig } from './runConfig.js';

export interface RunPreset extends Named {
  /** The keys it sets; everything else keeps the run defaults. */
  config: PartialRunConfig;
}

export const RUN_PRESETS = new Registry<RunPreset>('preset', [attentionBench]);

/** The run defaults with preset `name` merged over them (validated; an unknown name lists the registered ones). */
export function presetRunConfig(name: string, base: RunConfig = defaultRunConfig()): RunConfig {
  const preset = RUN_PRESETS.get(name, 'presetRunConfig');
  return mergeRunConfig(base, preset.config, `preset '${preset.name}'`);
}
