/**
 * Wall time of one small sweep (2 × 2 cells × 2 seeds of a tiny HEMNet,
 * 3 steps each, the shape of src/sweep/sweep.test.ts's grid, or --steps N)
 * on 1 and 2 local workers and on 2 `hemnet worker`s through a real
 * redis-server on 127.0.0.1, all on this machine. Prints seconds, the
 * speed-ups and the load average.
 *
 *   npm run build && npx tsx bench/sweep.ts [--steps 3]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '3' } } });
const BIN = resolve('dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'hemnet-bench-sweep-'));
const grid = {
  name: 'bench',
  base: { backend: 'wasm', model: { width: 8, channels: 16, hem: { numBases: 4 } }, data: { trainSize: 8, valSize: 4, canvasSize: 32 }, train: { steps: Number(values.steps), batchSize: 2, checkpointEvery: 1 } },
  axes: { 'model.hem.stepSize': [0.5, 1], 'model.hem.trainIterations': [1, 2] },
  seeds: [0, 1],
};
writeFileSync(join(dir, 'grid.json'), JSON.stringify(grid));

function sweep(out: string, extra: string[]): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, [BIN, 'sweep', 'run', join(dir, 'grid.json'), '--out', join(dir, out), ...extra], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sweep ${out} failed:\n${r.stdout}\n${r.stderr}`);
  return (performance.now() - t) / 1000;
}

async function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => ok(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');
const results: Array<[string, number, string]> = [];
try {
  results.push(['local, 1 worker', sweep('w1', ['--workers', '1']), load()]);
  results.push(['local, 2 workers', sweep('w2', ['--workers', '2']), load()]);
  const port = await freePort();
  mkdirSync(join(dir, 'redis'));
  const redis = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', join(dir, 'redis'), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 1000));
  const url = `redis://127.0.0.1:${port}`;
  const workers: ChildProcess[] = [0, 1].map(() => spawn(process.execPath, [BIN, 'worker', '--queue', url, '--concurrency', '1'], { stdio: 'ignore' }));
  try {
    results.push(['Redis, 2 hemnet workers', sweep('redis', ['--queue', url]), load()]);
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 2000));
    redis.kill('SIGTERM');
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const base = results[0]?.[1] ?? NaN;
process.stdout.write(`8 runs of ${values.steps} steps (tiny HEMNet, wasm), wall time of 'hemnet sweep run':\n`);
for (const [name, seconds, l] of results) process.stdout.write(`  ${name.padEnd(24)} ${seconds.toFixed(1).padStart(7)} s   ×${(base / seconds).toFixed(2)} vs 1 worker   (load ${l})\n`);
