/** docs/config.md is generated from the schemas; it must match them. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { configDocs } from '../src/cli/configDocs.js';

it('docs/config.md is current (regenerate: npx tsx scripts/config-docs.ts)', async () => {
  const committed = await readFile(new URL('../docs/config.md', import.meta.url), 'utf8');
  const generated = configDocs();
  assert.ok(committed === generated, 'docs/config.md differs from the schemas: run npx tsx scripts/config-docs.ts');
  // It documents what the schemas hold, e.g. η with its paper symbol and flag, and the renamed augmentation key.
  assert.match(generated, /\| `model\.hem\.stepSize` \| number \|  \| --step-size \| η of the N-step \(Eq\. 13\)/);
  // model.hem's own default (K = 16) shows, not HemHead's (64).
  assert.match(generated, /\| `model\.hem\.numBases` \| integer \| `16` \| --num-bases \|/);
  assert.match(generated, /\| `data\.augmentScale` \| numbers \| `\[1,1\]` \| --augment-scale \|/);
});
