/**
 * Where the part of a training step that does not shrink with the batch
 * goes: the cost that bounds data-parallel scaling (two workers splitting
 * batch 8 as 4 + 4 each pay it; docs/performance.md "Why 2 workers do not
 * reach 1.7×"). Samples V8's CPU profiler (node:inspector) over steps of
 * the default hem model on wasm at a small and a large batch (1 and 8 by
 * default), attributes every sample to a function (WebAssembly frames to
 * the nearest JavaScript caller, i.e. the kernel that called into wasm),
 * and estimates per function its fixed cost per step from the two
 * batches, f = (L·t_S − S·t_L) / (L − S) for batches S < L (what a linear
 * cost t = f + b·p has at b = 0). Prints the total fixed cost and the
 * functions with the largest.
 *
 * The estimate is as noisy as the machine: run it on an idle machine, and
 * read the totals and the largest rows, not the third decimal.
 *
 * Run: npx tsx bench/fixed-cost.ts [--small 1] [--large 8] [--steps 40] [--top 30]
 */
import { Session } from 'node:inspector/promises';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { setBackend } from '../src/backend.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { createOptimizer } from '../src/train/optimizer.js';
import { randomSegmentationDataset } from './randomData.js';
import { format } from './timing.js';
import { trainingStep } from './trainStep.js';

const { values } = parseArgs({ options: { small: { type: 'string', default: '1' }, large: { type: 'string', default: '8' }, steps: { type: 'string', default: '40' }, top: { type: 'string', default: '30' } } });
const [small, large, steps, top] = [Number(values.small), Number(values.large), Number(values.steps), Number(values.top)];
if (!(small >= 1 && large > small)) throw new Error(`bench:fixed-cost: need 1 ≤ --small < --large, received ${small} and ${large}`);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}

const shortUrl = (url: string): string => url.replace(/.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench)\//, '$1/');

/** ms per step by function for `steps` steps at `batch` (fresh model and optimizer; warmed up first). */
async function profileSteps(session: Session, batch: number): Promise<{ perFunction: Map<string, number>; wallMs: number }> {
  await setBackend('wasm');
  const { model } = buildSegmentationModel({ head: 'hem' });
  const optimizer = createOptimizer('adam', 2e-3, 0.9);
  const step = trainingStep(model, randomSegmentationDataset(32, 64), optimizer, batch);
  for (let s = 0; s < 20; s++) step(s);
  await session.post('Profiler.start');
  const start = performance.now();
  for (let s = 0; s < steps; s++) step(s);
  const wallMs = (performance.now() - start) / steps;
  const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
  optimizer.dispose();
  model.dispose();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isWasm = (n: ProfileNode): boolean => n.callFrame.url.startsWith('wasm://') || n.callFrame.functionName.startsWith('js-to-wasm');
  const perFunction = new Map<string, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  samples.forEach((id, i) => {
    let node = byId.get(id);
    if (node === undefined) return;
    let key: string;
    if (isWasm(node)) {
      while (node !== undefined && isWasm(node)) node = byId.get(parent.get(node.id) ?? -1);
      key = `[wasm] ← ${node?.callFrame.functionName || '(anonymous)'} ${shortUrl(node?.callFrame.url ?? '')}`;
    } else {
      key = `${node.callFrame.functionName || '(anonymous)'} ${shortUrl(node.callFrame.url)}`;
    }
    // A sample's time is the delta to the next sample.
    perFunction.set(key, (perFunction.get(key) ?? 0) + (deltas[i + 1] ?? 0) / 1000 / steps);
  });
  return { perFunction, wallMs };
}

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 100 });
console.log(`bench:fixed-cost — ${new Date().toISOString()} · ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length} · Node ${process.version} · wasm, default hem model, 64×64 · load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const a = await profileSteps(session, small);
const b = await profileSteps(session, large);
session.disconnect();
const sampled = (m: Map<string, number>): number => [...m.values()].reduce((s, v) => s + v, 0);
const fixedOf = (ta: number, tb: number): number => (large * ta - small * tb) / (large - small);
console.log(`${steps} profiled steps per batch · batch ${small}: ${format(a.wallMs)} ms/step (${format(sampled(a.perFunction))} sampled) · batch ${large}: ${format(b.wallMs)} ms/step (${format(sampled(b.perFunction))} sampled)`);
const wallFixed = fixedOf(a.wallMs, b.wallMs);
console.log(`fixed cost per step, from the wall times: ${format(wallFixed)} ms (${format((100 * wallFixed) / b.wallMs, 1)} % of a batch-${large} step); per image ${format((b.wallMs - a.wallMs) / (large - small))} ms`);
console.log(`a split of batch ${large} into two halves can then reach at most ${format(b.wallMs / (wallFixed + (b.wallMs - wallFixed) / 2))}× on two cores\n`);
const rows = [...new Set([...a.perFunction.keys(), ...b.perFunction.keys()])].map((key) => {
  const ta = a.perFunction.get(key) ?? 0;
  const tb = b.perFunction.get(key) ?? 0;
  return { key, ta, tb, fixed: fixedOf(ta, tb) };
});
const group = (test: (key: string) => boolean): number => rows.filter((r) => test(r.key)).reduce((s, r) => s + r.fixed, 0);
console.log('| where | fixed ms per step |');
console.log('|---|---:|');
console.log(`| WebAssembly (kernels' inner loops) | ${format(group((k) => k.startsWith('[wasm]')))} |`);
console.log(`| tfjs-core (engine: dispatch, tape, scopes, tensor bookkeeping) | ${format(group((k) => !k.startsWith('[wasm]') && k.includes('tfjs-core')))} |`);
console.log(`| tfjs-layers (layer calls) | ${format(group((k) => !k.startsWith('[wasm]') && k.includes('tfjs-layers')))} |`);
console.log(`| tfjs-backend-wasm (JS side) | ${format(group((k) => !k.startsWith('[wasm]') && k.includes('tfjs-backend-wasm')))} |`);
console.log(`| hemnet's JavaScript (src/) | ${format(group((k) => !k.startsWith('[wasm]') && k.includes(' src/')))} |`);
console.log(`| garbage collector and the rest | ${format(group((k) => !k.startsWith('[wasm]') && !/tfjs-core|tfjs-layers|tfjs-backend-wasm| src\//.test(k)))} |`);
console.log(`\nthe ${top} functions with the largest fixed cost (ms per step)`);
console.log(`| fixed | batch ${small} | batch ${large} | function |`);
console.log('|---:|---:|---:|---|');
for (const r of rows.sort((x, y) => y.fixed - x.fixed).slice(0, top)) console.log(`| ${format(r.fixed, 3)} | ${format(r.ta, 3)} | ${format(r.tb, 3)} | ${r.key.replace(/\|/g, '\\|')} |`);
