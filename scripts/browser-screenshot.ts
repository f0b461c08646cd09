/**
 * Runs the browser demo in headless Chromium and saves a screenshot of the
 * finished page (docs/figures/browser-demo.png) plus the page's report
 * (docs/figures/browser-demo.json: loss, ms/step, mIoU, ELBO per iteration).
 *
 *   npm run demo:screenshot -- [--steps 1000] [--backend wasm]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildBrowserDemo } from '../examples/browser/build.js';
import { launchChromium } from '../examples/browser/chromium.js';
import { serveDirectory } from '../examples/browser/serve.js';
import type { DemoState } from '../examples/browser/demo.js';

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

const steps = Number(flag('steps', '1000'));
const backend = flag('backend', 'wasm');
if (!Number.isInteger(steps) || steps < 1) throw new Error(`browser-screenshot: '--steps' must be an integer ≥ 1, received '${flag('steps', '')}'`);
const figures = resolve('docs', 'figures');
const dir = await mkdtemp(join(tmpdir(), 'hemnet-demo-'));
await buildBrowserDemo(dir);
const { server, url } = await serveDirectory(dir);
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
  await page.goto(`${url}?auto=1&backend=${backend}&steps=${steps}`);
  let last = '';
  for (;;) {
    const state = (await page.evaluate(() => window.hemnetDemo)) as DemoState;
    if (state.state === 'done' || state.state === 'error') break;
    const status = await page.textContent('#status');
    if (status !== null && status !== last) process.stderr.write(`\r${status.padEnd(90)}`);
    last = status ?? '';
    await new Promise((r) => setTimeout(r, 1000));
  }
  process.stderr.write('\n');
  const state = (await page.evaluate(() => window.hemnetDemo)) as DemoState;
  if (state.state !== 'done') throw new Error(`the demo failed: ${state.state === 'error' ? state.message : state.state}`);
  await page.screenshot({ path: join(figures, 'browser-demo.png'), fullPage: true });
  const { report } = state;
  const summary = {
    command: `npm run demo:screenshot -- --steps ${steps} --backend ${backend}`,
    chromium: browser.version(),
    backend: report.backend,
    steps,
    msPerStep: Math.round(report.msPerStep),
    firstLoss: report.losses[0],
    lastLoss: report.losses.at(-1),
    validation: report.validation,
    attentionElbo: report.attention.elbo,
  };
  await writeFile(join(figures, 'browser-demo.json'), `${JSON.stringify(summary, null, 2)}\n`);
  console.log(JSON.stringify(summary, null, 2));
} finally {
  await browser.close();
  server.close();
  await rm(dir, { recursive: true, force: true });
}
