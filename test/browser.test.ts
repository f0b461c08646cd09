/**
 * hemnet's browser entry, bundled by esbuild as a user's bundler would, in a
 * real headless Chromium (Debian's, through playwright-core): it loads with
 * no page errors, gives the numbers Node gives on cpu and wasm, and trains a
 * HEMNet in the page with a flat tensor count and drawn attention maps; and
 * its "load a trained model" path segments a picked image with segment().
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { setBackend } from 'hemnet';
import sharp from 'sharp';
import { buildSegmentationModel, createSegmenter, saveModelToFiles, SEGMENTER_FILE, segment } from 'hemnet/node';
import { buildBrowserDemo, type BuiltDemo } from '../examples/browser/build.js';
import { launchChromium } from '../examples/browser/chromium.js';
import { serveDirectory } from '../examples/browser/serve.js';
import { probeNumbers, type ProbeNumbers } from '../examples/browser/probe.js';
import type { DemoReport, DemoState } from '../examples/browser/demo.js';
import type { SegmentState } from '../examples/browser/segmentPanel.js';

const STEPS = 60;
const WEBGL_STEPS = 6;

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
  let webglReport: DemoReport;

  /** Opens the demo with `query`, waits for it to finish, returns its report. */
  async function runPage(query: string, timeout: number): Promise<{ page: Page; report: DemoReport }> {
    const opened = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
    opened.on('pageerror', (error) => pageErrors.push(error.message));
    opened.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    opened.on('response', (response) => {
      if (response.status() >= 400) failedRequests.push(`${response.status()} ${response.url()}`);
    });
    await opened.goto(`${url}?${query}`);
    await opened.waitForFunction(() => window.hemnetDemo.state === 'done' || window.hemnetDemo.state === 'error', undefined, { timeout, polling: 500 });
    const state = (await opened.evaluate(() => window.hemnetDemo)) as DemoState;
    if (state.state !== 'done') throw new Error(`the demo page (${query}) ended in state '${state.state}': ${state.state === 'error' ? state.message : ''}`);
    return { page: opened, report: state.report };
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hemnet-browser-'));
    built = await buildBrowserDemo(dir);
    ({ server, url } = await serveDirectory(dir));
    browser = await launchChromium();
    ({ page, report } = await runPage(`auto=1&backend=wasm&steps=${STEPS}`, 240_000));
    await page.screenshot({ path: join(dir, 'screenshot.png'), fullPage: true });
    // WebGL runs on SwiftShader here (--disable-gpu): about 1 s per step, so a short run.
    ({ report: webglReport } = await runPage(`auto=1&backend=webgl&steps=${WEBGL_STEPS}`, 240_000));
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

  it('computes the HEM unroll, its gradient and dilated-conv gradients as Node does, on cpu, wasm and webgl', async () => {
    assert.deepEqual(report.unavailable, []);
    assert.deepEqual(report.probes.map((p) => p.backend), ['cpu', 'wasm', 'webgl']);
    for (const browserProbe of report.probes) {
      // webgl has no Node counterpart here: it is checked against Node's cpu, with a float32-GPU tolerance.
      const nodeBackend = browserProbe.backend === 'webgl' ? 'cpu' : (browserProbe.backend as 'cpu' | 'wasm');
      const [rtol, atol] = browserProbe.backend === 'webgl' ? [1e-3, 1e-4] : [1e-4, 1e-5];
      await setBackend(nodeBackend);
      const nodeProbe: ProbeNumbers = probeNumbers();
      const at = `browser ${browserProbe.backend} vs Node ${nodeBackend}:`;
      assertAllClose(browserProbe.mu, nodeProbe.mu, `${at} μ(T)`, rtol, atol);
      assertAllClose(browserProbe.elbo.flat(), nodeProbe.elbo.flat(), `${at} ELBO per iteration`, rtol, atol);
      assertAllClose(browserProbe.gradX, nodeProbe.gradX, `${at} ∂/∂x`, rtol, atol);
      assertAllClose(browserProbe.convFilterGrad, nodeProbe.convFilterGrad, `${at} conv ∂/∂filter`, rtol, atol);
      assertAllClose(browserProbe.convInputGrad, nodeProbe.convInputGrad, `${at} conv ∂/∂input`, rtol, atol);
      assert.equal(browserProbe.elbo.length, 4, 'T = 4 ELBO entries');
    }
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

  it('trains on webgl from the same start: the first loss equals wasm\'s, numTensors stays flat', () => {
    assert.equal(webglReport.backend, 'webgl');
    assert.equal(webglReport.losses.length, WEBGL_STEPS);
    // Same seeds, same initial weights, same first batch: the first losses agree across backends.
    const [webglFirst, wasmFirst] = [webglReport.losses[0] as number, report.losses[0] as number];
    assert.ok(Math.abs(webglFirst - wasmFirst) < 1e-3 * wasmFirst, `first loss webgl ${webglFirst} vs wasm ${wasmFirst}`);
    for (const loss of webglReport.losses) assert.ok(Number.isFinite(loss));
    const counts = webglReport.tensorsAfterStep;
    assert.deepEqual(counts.slice(1), new Array(WEBGL_STEPS - 1).fill(counts[1]), `numTensors per step ${counts.join(' ')}`);
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
  it('loads a saved model with loadSegmenter(url) and segments a picked image at its own size with segment(), as Node does', async () => {
    // A small HEMNet saved as a run's model folder would be (model.json, weights.bin, segmenter.json), served at ./model/.
    await setBackend('wasm');
    const { model } = buildSegmentationModel({ inputSize: [16, 16], width: 8, channels: 16, midChannels: 16, numClasses: 5, hem: { numBases: 4 }, seed: 5 });
    const segmenter = createSegmenter(model, { classNames: ['background', 'a', 'b', 'c', 'd'], mean: [0.5, 0.5, 0.5], std: [0.29, 0.29, 0.29] });
    await saveModelToFiles(join(dir, 'model'), model);
    await writeFile(join(dir, 'model', SEGMENTER_FILE), JSON.stringify(segmenter.info));
    const [width, height] = [45, 30];
    const rgb = Buffer.alloc(width * height * 3);
    for (let p = 0; p < width * height; p++) rgb.set([(p * 7) % 256, (p * 13) % 256, p % width > 20 ? 220 : 20], 3 * p);
    const picture = join(dir, 'picture.png');
    await sharp(rgb, { raw: { width, height, channels: 3 } }).png().toFile(picture);
    const expected = await segment(segmenter, picture);

    const opened = await browser.newPage();
    opened.on('pageerror', (error) => pageErrors.push(error.message));
    await opened.goto(`${url}?backend=wasm&model=./model/`);
    await opened.waitForFunction(() => ['ready', 'error'].includes(window.hemnetSegment.state), undefined, { timeout: 60_000, polling: 200 });
    const ready = (await opened.evaluate(() => window.hemnetSegment)) as SegmentState;
    assert.equal(ready.state, 'ready', JSON.stringify(ready));
    await opened.setInputFiles('#image-file', picture);
    await opened.waitForFunction(() => ['done', 'error'].includes(window.hemnetSegment.state), undefined, { timeout: 60_000, polling: 200 });
    const state = (await opened.evaluate(() => window.hemnetSegment)) as SegmentState;
    assert.equal(state.state, 'done', JSON.stringify(state));
    if (state.state !== 'done') return;
    const report = state.report;
    assert.deepEqual([report.width, report.height], [width, height]);
    assert.equal(report.mode, 'whole');
    assertAllClose(report.probabilities, Array.from(expected.probabilities), 'browser vs Node class probabilities', 1e-4, 1e-5);
    const differing = report.labels.filter((label, p) => label !== expected.labels[p]).length;
    assert.equal(differing, 0, `${differing} labels differ from Node's`);
    assert.deepEqual(report.attentionElbo?.length, expected.attention?.elbo.length);
    assert.deepEqual(report.attentionSize, expected.attention?.featureSize);
    const drawn = await opened.evaluate(() => {
      const canvas = document.getElementById('segment-mask') as HTMLCanvasElement;
      return [canvas.width, canvas.height, document.querySelectorAll('#segment-legend li').length];
    });
    assert.deepEqual(drawn.slice(0, 2), [width, height]);
    assert.ok((drawn[2] as number) >= 1);
    await opened.close();
    model.dispose();
    assert.deepEqual(pageErrors, []);
  });
});
