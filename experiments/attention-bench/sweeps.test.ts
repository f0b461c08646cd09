/**
 * The sweep files of sweeps/ (issue 11's tables on the attention-bench
 * preset) are valid: every cell of every grid, with every seed and every
 * post-training evaluation, merges into a run config the schema accepts.
 * They await `hemnet sweep` (issue 10) to be run.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import '../../src/data/builtinDatasets.js';
import { presetRunConfig } from '../../src/train/presets.js';
import { mergeRunConfig } from '../../src/train/runConfig.js';

interface SweepFile {
  name: string;
  description: string;
  preset: string;
  seeds: number[];
  base: Record<string, unknown>;
  axes: Record<string, unknown[]>;
  evaluations: { name: string; eval: Record<string, unknown> }[];
  compare?: string[][];
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    node[key] = { ...((node[key] as Record<string, unknown> | undefined) ?? {}) };
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1] as string] = value;
}

function cells(axes: Record<string, unknown[]>): Record<string, unknown>[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [key, values] of Object.entries(axes)) out = out.flatMap((cell) => values.map((v) => ({ ...cell, [key]: v })));
  return out;
}

const dir = 'sweeps';
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('sweeps/ (the papers\' tables on attention-bench)', () => {
  it('has the four sweeps', () => {
    assert.deepEqual(files.sort(), ['headline.json', 'table1-baselines.json', 'table1-hem.json', 'table2-teval.json']);
  });
  for (const file of files) {
    it(`${file}: every cell × seed × evaluation is a valid run config`, () => {
      const sweep = JSON.parse(readFileSync(join(dir, file), 'utf8')) as SweepFile;
      assert.deepEqual(Object.keys(sweep).filter((k) => !['name', 'description', 'preset', 'seeds', 'base', 'axes', 'evaluations', 'compare'].includes(k)), []);
      assert.ok(sweep.seeds.length >= 3, 'at least 3 seeds');
      const base = mergeRunConfig(presetRunConfig(sweep.preset), sweep.base, file);
      const grid = cells(sweep.axes);
      assert.ok(grid.length >= 2);
      let configs = 0;
      for (const cell of grid) {
        for (const seed of sweep.seeds) {
          const partial: Record<string, unknown> = {};
          for (const [key, value] of Object.entries(cell)) setPath(partial, key, value);
          setPath(partial, 'train.seed', seed);
          setPath(partial, 'model.seed', seed);
          const config = mergeRunConfig(base, partial, `${file} ${JSON.stringify(cell)} seed ${seed}`);
          for (const evaluation of sweep.evaluations) mergeRunConfig(config, { eval: evaluation.eval }, `${file} ${evaluation.name}`);
          configs++;
        }
      }
      assert.equal(configs, grid.length * sweep.seeds.length);
      for (const pair of sweep.compare ?? []) for (const head of pair) assert.ok((sweep.axes['model.head'] ?? []).includes(head), `compare names ${head}`);
    });
  }
});
