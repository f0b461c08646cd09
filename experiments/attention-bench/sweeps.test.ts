/**
 * The sweep files of sweeps/ parse and expand with `hemnet sweep`'s own
 * parser: every cell of every grid, with every seed, is a run config the
 * schema accepts. The papers' tables on the attention-bench preset
 * (issue 11) have at least 3 seeds per cell.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import '../../src/data/builtinDatasets.js';
import { expandSweep, parseSweep } from '../../src/sweep/spec.js';
import { mergeRunConfig, defaultRunConfig } from '../../src/train/runConfig.js';

const dir = 'sweeps';
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
const PAPER_TABLES = ['headline.json', 'table1-hem.json', 'table2-teval.json'];

describe("sweeps/ (grids of the papers' tables)", () => {
  it('holds the attention-bench tables', () => {
    for (const file of PAPER_TABLES) assert.ok(files.includes(file), `missing ${file}`);
  });
  for (const file of files) {
    it(`${file}: parses, and every run of the grid is a valid run config`, () => {
      const raw = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { preset?: string };
      const spec = parseSweep(raw, file, file.replace(/\.json$/, ''));
      const runs = expandSweep(spec, file);
      assert.ok(runs.length >= 2, `${file}: a grid of at least 2 runs`);
      assert.equal(new Set(runs.map((r) => r.name)).size, runs.length, 'run names are unique');
      for (const run of runs) mergeRunConfig(defaultRunConfig(), run.config, `${file} ${run.name}`);
      if (PAPER_TABLES.includes(file)) {
        assert.equal(raw.preset, 'attention-bench');
        assert.ok(spec.seeds.length >= 3, 'at least 3 seeds');
        const first = runs[0]?.config as { data?: { canvasSize?: number } };
        assert.equal(first.data?.canvasSize, 128, 'the preset reaches every run');
      }
    });
  }
});
