import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../data/builtinDatasets.js';
import { validateAgainstSchema } from '../schema.js';
import { RUN_SCHEMA, defaultRunConfig } from '../train/runConfig.js';
import { configFlags, configFlagHelp, flagsToConfig } from './flags.js';

describe('config flags from the schemas', () => {
  it('the run config: defaults validate, every flag is unique and maps to a schema path', () => {
    validateAgainstSchema('defaults', RUN_SCHEMA, defaultRunConfig());
    const flags = configFlags();
    assert.equal(new Set(flags.map((f) => f.flag)).size, flags.length, 'duplicate flag names');
    // Old flags keep their names and paths.
    const byFlag = new Map(flags.map((f) => [f.flag, f.path]));
    for (const [flag, path] of [['num-bases', 'model.hem.numBases'], ['step-size', 'model.hem.stepSize'], ['eval-iterations', 'model.hem.evalIterations'], ['lr', 'train.learningRate'], ['data', 'data.source'], ['eval-scales', 'eval.scales'], ['model-seed', 'model.seed']] as const) {
      assert.equal(byFlag.get(flag), path, flag);
    }
    assert.deepEqual(flagsToConfig({ 'num-bases': '8', 'no-aux-head': true, 'augment-scale': '0.5,2' }), { model: { hem: { numBases: 8 }, auxiliaryHead: false }, data: { augmentScale: [0.5, 2] } });
    assert.match(configFlagHelp(), /--step-size N +η of the N-step \(Eq\. 13\), in \(0, 1\]; 1 = plain EM {2}\[model\.hem\.stepSize\]/);
  });
});
