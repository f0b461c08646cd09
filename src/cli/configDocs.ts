/**
 * docs/config.md, generated from the schemas: every run-config key with its
 * type, default, flag and doc string. `npx tsx scripts/config-docs.ts`
 * rewrites the file; test/config-docs.test.ts fails when it is stale.
 */
import '../data/builtinDatasets.js';
import { describeSchema, type Schema } from '../schema.js';
import { HEM_HEAD_SCHEMA } from '../layers/hemHead.js';
import { GRAD_SCHEDULE_SCHEMA } from '../gradnets/schedule.js';
import { HEM_STEP_SIZE_SCHEMA } from '../gradnets/hemStepSize.js';
import { RUN_SCHEMA } from '../train/runConfig.js';

function table(title: string, intro: string, schema: Schema, prefix = ''): string {
  return [`## ${title}`, '', intro, '', '| key | type | default | flag | meaning |', '|---|---|---|---|---|', ...describeSchema(schema, prefix), ''].join('\n');
}

export function configDocs(): string {
  const { backend, model, data, train, eval: evaluation } = RUN_SCHEMA;
  return [
    '# Configuration reference',
    '',
    'Generated from the schemas by `npx tsx scripts/config-docs.ts` (do not edit by hand; test/config-docs.test.ts checks it is current).',
    'A run config (`hemnet train --config FILE`) has the sections below; every key is optional, unknown keys are errors, flags override the file.',
    'Names checked against a registry list the built-in entries.',
    '',
    table('Run config', 'Top level, `model`, `data`, `train`, `eval`.', { backend, model, data, train, eval: evaluation }),
    table('HemHead options', "`hemHead({...})` / `new HemHead({...})`; `model.hem` holds them without `preset` and `seed` (the head's name picks the preset). Defaults left empty come from the preset.", HEM_HEAD_SCHEMA),
    table('GradNets schedule', '`new GradSchedule({...})`, the `schedule` of every GradNets controller.', GRAD_SCHEDULE_SCHEMA),
    table('HemStepSizeController options', '`new HemStepSizeController(model, {...})`: η annealed from `stepSizeStart` to `stepSizeEnd` over the schedule.', HEM_STEP_SIZE_SCHEMA),
  ].join('\n');
}
