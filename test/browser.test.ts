/**
 * hemnet's browser entry, bundled by esbuild as a user's bundler would, in a
 * real headless Chromium (Debian's, through playwright-core): it loads with
 * no page errors, gives the numbers Node gives on cpu and wasm, and trains a
 * HEMNet in the page with a flat tensor count and drawn attention maps.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { setBackend } from 'hemnet';
import { buildBrowserDemo, type BuiltDemo } from '../examples/browser/build.js';
import { launchChromium } from '../examples/browser/chromium.js';
import { serveDirectory } from '../examples/browser/serve.js';
import { probeNumbers, type ProbeNumbers } from '../examples/browser/probe.js';
import type { DemoReport, DemoState } from '../examples/browser/demo.js';

const STEPS = 60;

function assertAllClose(actual: readonly number[], expected: readonly number[], label: string, rtol = 1e-4, atol = 1e-5): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    assert.ok(Number.isFinite(a), `${label}[${i}] = ${a}`);
    worst = Math.max(worst, Math.abs(a - e) / (atol + rtol * Math.abs(e)));
  }
  assert.ok(worst <= 1, `${label}: worst |a − e| / (atol + rtol·|e|) = ${worst.toFixed(2)}`);
}

describe('the browser build in headless Chromium', () => {
  let dir: string;
  let built: BuiltDemo;
  let server: Server;
  let url: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const failedRequests: string[] = [];
  let report: DemoReport;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hemnet-browser-'));
    built = await buildBrowserDemo(dir);
    ({ server, url } = await serveDirectory(dir));
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    page.on('response', (response) => {
      if (response.status() >= 400) failedRequests.push(`${response.status()} ${response.url()}`);
    });
    await page.goto(`${url}?auto=1&backend=wasm&steps=${STEPS}`);
    await page.waitForFunction(() => window.hemnetDemo.state === 'done' || window.hemnetDemo.state === 'error', undefined, { timeout: 240_000, polling: 500 });
    const state = (await page.evaluate(() => window.hemnetDemo)) as DemoState;
    if (state.state !== 'done') throw new Error(`the demo page ended in state '${state.state}': ${state.state === 'error' ? state.message : ''}`);
    report = state.report;
    await page.screenshot({ path: join(dir, 'screenshot.png'), fullPage: true });
  });

  after(async () => {
    await browser?.close();
    await new Promise((resolve) => (server === undefined ? resolve(undefined) : server.close(resolve)));
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('bundles without Node built-ins and loads with no page errors or failed requests', () => {
    assert.ok(built.bundleBytes > 100_000, `demo.js is ${built.bundleBytes} bytes`);
    assert.ok(built.wasmFiles.includes('tfjs-backend-wasm.wasm'), `wasm files ${built.wasmFiles.join(', ')}`);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(failedRequests, []);
    assert.equal(report.backend, 'wasm');
  });

  it('computes the HEM unroll, its gradient and dilated-conv gradients as Node does, on cpu and wasm', async () => {
    assert.deepEqual(report.probes.map((p) => p.backend), ['cpu', 'wasm']);
    for (const browserProbe of report.probes) {
      await setBackend(browserProbe.backend as 'cpu' | 'wasm');
      const nodeProbe: ProbeNumbers = probeNumbers();
      const at = `${browserProbe.backend}`;
      assertAllClose(browserProbe.mu, nodeProbe.mu, `${at} μ(T)`);
      assertAllClose(browserProbe.elbo.flat(), nodeProbe.elbo.flat(), `${at} ELBO per iteration`);
      assertAllClose(browserProbe.gradX, nodeProbe.gradX, `${at} ∂/∂x`);
      assertAllClose(browserProbe.convFilterGrad, nodeProbe.convFilterGrad, `${at} conv ∂/∂filter`);
      assertAllClose(browserProbe.convInputGrad, nodeProbe.convInputGrad, `${at} conv ∂/∂input`);
      // Proposition 1 in the browser: with η = 0.5 every iteration's ELBO is finite and the trace has T = 4 entries.
      assert.equal(browserProbe.elbo.length, 4);
    }
    const [cpu, wasm] = report.probes as [ProbeNumbers, ProbeNumbers];
    assertAllClose(wasm.gradX, cpu.gradX, 'browser wasm vs browser cpu ∂/∂x', 1e-3, 1e-4);
  });

  it('trains a HEMNet in the page: the loss falls and numTensors stays flat from step to step', () => {
    assert.equal(report.losses.length, STEPS);
    const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
    const first = mean(report.losses.slice(0, 10));
    const last = mean(report.losses.slice(-10));
    assert.ok(last < 0.8 * first, `loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
    const counts = report.tensorsAfterStep;
    assert.equal(counts.length, STEPS);
    // Adam creates its moment variables at step 1; from then on the count is flat.
    assert.deepEqual(counts.slice(1), new Array(STEPS - 1).fill(counts[1]), `numTensors per step ${counts.join(' ')}`);
    assert.ok(report.msPerStep > 0);
    assert.ok(report.validation.samples === 48 && report.validation.pixelAccuracy > 0 && report.validation.meanIoU > 0);
  });

  it('draws the attention maps (T rows × 8 bases) and the ELBO per iteration', async () => {
    assert.equal(report.attention.elbo.length, 3);
    assert.equal(report.attention.bases.length, 8);
    for (const value of report.attention.elbo) assert.ok(Number.isFinite(value));
    const drawn = await page.evaluate(() => {
      const canvas = document.getElementById('attention') as HTMLCanvasElement;
      const pixels = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray();
      let coloured = 0;
      for (let i = 0; i < pixels.length; i += 4) if (pixels[i] !== 255 || pixels[i + 1] !== 255 || pixels[i + 2] !== 255) coloured++;
      return { width: canvas.width, height: canvas.height, coloured, charts: document.querySelectorAll('.chart svg').length };
    });
    assert.equal(drawn.width, report.attention.width);
    assert.equal(drawn.height, report.attention.height);
    // 48×48 input at output stride 8: 6×6 maps drawn ×8; every tile pixel is viridis, every gap pixel white.
    assert.equal(drawn.coloured, 3 * 8 * 48 * 48, 'coloured attention pixels');
    assert.equal(drawn.charts, 2, 'loss and ELBO charts');
  });
});
