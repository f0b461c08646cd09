import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { colorizeMask, heatmapGrid, imageToRgba, overlayMask, tileImages, viridis } from './image.js';
import { encodePng, svgToPng, writePng, writeSvgPng } from './png.js';
import { barChart, lineChart, niceTicks } from './svg.js';

const pixel = (im: { data: Uint8ClampedArray; width: number }, x: number, y: number): number[] =>
  Array.from(im.data.subarray((y * im.width + x) * 4, (y * im.width + x) * 4 + 4));

test('niceTicks gives round steps covering the range', () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(-3, 17, 4), [-5, 0, 5, 10, 15, 20]);
  assert.deepEqual(niceTicks(2, 2), [1.8, 1.9, 2, 2.1, 2.2]);
  assert.throws(() => niceTicks(0, Number.NaN), /niceTicks: 'min' and 'max' must be finite, received 0, NaN/);
});

test('lineChart: one path per series, legend, title, axis labels, escaped text', () => {
  const svg = lineChart({
    title: 'ELBO per iteration',
    xLabel: 'iteration t',
    yLabel: 'ELBO',
    series: [
      { name: 'η = 0.5', y: [1, 2, 3, 3.5] },
      { name: 'η = 1 (EM)', y: [1, 2.5, 2.4, 2.6], dashed: true },
      { name: 'a<b', x: [0, 1, 2], y: [0.5, Number.NaN, 1] },
    ],
  });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="640" height="400"/);
  assert.equal((svg.match(/<path class="series"/g) ?? []).length, 3);
  assert.match(svg, /data-name="η = 0.5"/);
  assert.match(svg, /<text class="legend"[^>]*>η = 1 \(EM\)<\/text>/);
  assert.match(svg, /<text class="legend"[^>]*>a&lt;b<\/text>/);
  assert.match(svg, /<text class="title"[^>]*>ELBO per iteration<\/text>/);
  assert.match(svg, /<text class="xlabel"[^>]*>iteration t<\/text>/);
  assert.match(svg, /<text class="ylabel"[^>]*>ELBO<\/text>/);
  assert.match(svg, /class="ytick"[^>]*>3<\/text>/);
  assert.match(svg, /class="xtick"[^>]*>3<\/text>/);
  // The NaN breaks the third line into two pieces (two M commands).
  const third = svg.match(/data-name="a&lt;b" d="([^"]*)"/)?.[1] ?? '';
  assert.equal((third.match(/M/g) ?? []).length, 2);
  assert.throws(() => lineChart({ series: [] }), /lineChart: 'series' must hold at least one series, received 0/);
  assert.throws(() => lineChart({ series: [{ name: 's', x: [1], y: [1, 2] }] }), /lineChart: series 0 \('s'\) has 1 x values but 2 y values/);
});

test('lineChart: log axis uses powers of ten', () => {
  const svg = lineChart({ series: [{ name: 'loss', y: [3, 0.5, 0.02] }], logY: true });
  for (const t of ['0.01', '0.1', '1', '10']) assert.match(svg, new RegExp(`class="ytick"[^>]*>${t.replace('.', '\\.')}</text>`));
});

test('barChart: one bar per (category, series) with heights proportional to values', () => {
  const svg = barChart({
    title: 'gradient per layer',
    categories: ['layer 1', 'layer 2', 'layer 3'],
    series: [
      { name: 'η = 0.5', values: [1, 2, 4] },
      { name: 'η = 1', values: [0, 0, 4] },
    ],
  });
  const bars = [...svg.matchAll(/<rect class="bar" data-name="([^"]*)" x="[^"]*" y="[^"]*" width="[^"]*" height="([^"]*)"/g)];
  assert.equal(bars.length, 6);
  const heights = bars.map((m) => Number(m[2]));
  assert.ok(Math.abs((heights[4] as number) - 2 * (heights[2] as number)) < 0.2, `heights ${heights.join(',')}`);
  assert.equal(heights[1], 0);
  assert.match(svg, /class="xtick"[^>]*>layer 2<\/text>/);
  assert.throws(() => barChart({ categories: ['a'], series: [{ name: 's', values: [1, 2] }] }), /barChart: series 0 \('s'\) has 2 values, expected one per category \(1\)/);
});

test('colorizeMask / overlayMask / imageToRgba colours', () => {
  const mask = colorizeMask(new Uint8Array([0, 1, 15, 255]), 2, 2);
  assert.deepEqual(pixel(mask, 0, 0), [0, 0, 0, 255]);
  assert.deepEqual(pixel(mask, 1, 0), [128, 0, 0, 255]);
  assert.deepEqual(pixel(mask, 0, 1), [192, 128, 128, 255]);
  assert.deepEqual(pixel(mask, 1, 1), [255, 255, 255, 255]);
  assert.throws(() => colorizeMask(new Uint8Array(3), 2, 2), /colorizeMask: 'label' must have 2×2 = 4 values, received 3/);
  const grey = imageToRgba(new Float32Array([0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]), 2, 2, 3, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
  assert.deepEqual(pixel(grey, 0, 0), [128, 128, 128, 255]);
  assert.deepEqual(pixel(grey, 1, 0), [255, 255, 255, 255]);
  const minmax = imageToRgba(new Float32Array([-2, 2]), 1, 2, 1);
  assert.deepEqual(pixel(minmax, 0, 0), [0, 0, 0, 255]);
  assert.deepEqual(pixel(minmax, 1, 0), [255, 255, 255, 255]);
  const over = overlayMask(grey, new Uint8Array([0, 1, 255, 2]), { alpha: 0.5 });
  assert.deepEqual(pixel(over, 0, 0), [128, 128, 128, 255]); // background untouched
  assert.deepEqual(pixel(over, 1, 0), [192, 128, 128, 255]); // (255 + 128) / 2, 255 / 2, 255 / 2
  assert.deepEqual(pixel(over, 0, 1), [128, 128, 128, 255]); // ignore untouched
});

test('viridis end points and heatmapGrid layout', () => {
  assert.deepEqual(viridis(0), [0x44, 0x01, 0x54]);
  assert.deepEqual(viridis(1), [0xfd, 0xe7, 0x25]);
  assert.deepEqual(viridis(2), viridis(1));
  const mid = viridis(0.5);
  assert.ok(mid[1] > mid[0] && mid[1] > 100, 'middle of viridis is teal-green');
  // Two 2×3 maps; map 1 constant → mid colour; tiles side by side with a 1-pixel gap, scaled ×2.
  const maps = new Float32Array([0, 1, 2, 3, 4, 5, 7, 7, 7, 7, 7, 7]);
  const grid = heatmapGrid(maps, [2, 2, 3], { columns: 2, gap: 1, scale: 2 });
  assert.equal(grid.width, 2 * 6 + 1);
  assert.equal(grid.height, 4);
  assert.deepEqual(pixel(grid, 0, 0), [...viridis(0), 255]);
  assert.deepEqual(pixel(grid, 5, 3), [...viridis(1), 255]);
  assert.deepEqual(pixel(grid, 6, 0), [255, 255, 255, 255]); // gap
  assert.deepEqual(pixel(grid, 7, 0), [...viridis(0.5), 255]);
  const global = heatmapGrid(maps, [2, 2, 3], { normalize: 'all', columns: 1, gap: 0 });
  assert.equal(global.height, 4);
  assert.deepEqual(pixel(global, 0, 2), [...viridis(1), 255]);
  assert.throws(() => heatmapGrid(maps, [3, 2, 3]), /heatmapGrid: 'maps' must have 3×2×3 = 18 values, received 12/);
  assert.equal(tileImages([grid, global], { columns: 1, gap: 0 }).height, 8);
});

test('PNG writers produce decodable PNGs of the right size', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'hemnet-plots-'));
  try {
    const mask = colorizeMask(new Uint8Array([0, 1, 2, 255, 3, 4]), 2, 3);
    const meta = await sharp(await encodePng(mask)).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 3);
    assert.equal(meta.height, 2);
    const path = join(folder, 'sub', 'mask.png');
    await writePng(path, mask);
    const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.width, 3);
    assert.deepEqual(Array.from(data.subarray(4, 7)), [128, 0, 0]);
    const svg = lineChart({ title: 't', series: [{ name: 's', y: [1, 2] }], width: 320, height: 200 });
    const png = await sharp(await svgToPng(svg)).metadata();
    assert.equal(png.width, 320);
    assert.equal(png.height, 200);
    const chartPath = join(folder, 'chart.png');
    await writeSvgPng(chartPath, svg, 144);
    assert.equal((await sharp(chartPath).metadata()).width, 640);
    await assert.rejects(svgToPng('hello'), /svgToPng: 'svg' must be an SVG document string, received 'hello'/);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

/** First and last dark column, and the count of dark pixels, in rows y0..y1 of a rendered SVG. */
async function darkColumns(svg: string, y0: number, y1: number): Promise<{ count: number; minX: number; maxX: number; width: number }> {
  const { data, info } = await sharp(await svgToPng(svg)).raw().toBuffer({ resolveWithObject: true });
  let count = 0;
  let minX = info.width;
  let maxX = -1;
  for (let y = y0; y < y1; y++) {
    for (let x = 0; x < info.width; x++) {
      const i = (y * info.width + x) * info.channels;
      if ((data[i] as number) + (data[i + 1] as number) + (data[i + 2] as number) < 300) {
        count++;
        minX = Math.min(minX, x);
        maxX = Math.max(maxX, x);
      }
    }
  }
  return { count, minX, maxX, width: info.width };
}

test('lineChart: a title wider than the plot area (wide legend) or than the image stays inside the image', async () => {
  const series = [0, 1, 2].map((seed) => ({ name: `depth 200 GReLU, orthogonal, τ = half seed ${seed}`, y: [2.3, 2.1, 1.9] }));
  const titles = [
    'Deep MLPs on MNIST, 512 units, depth 200, 18 epochs, GReLU τ = 9 epochs',
    'Gradient norm per layer after training, hem head at 300 steps, 128 × 128, seeds 0–2, every layer of the backbone and head',
  ];
  for (const title of titles) {
    const { count, minX, maxX, width } = await darkColumns(lineChart({ title, series, width: 900, height: 400 }), 8, 30);
    assert.ok(count > 100, `the title is drawn (${count} dark pixels)`);
    assert.ok(minX >= 4, `'${title}' starts inside the image (first dark column ${minX})`);
    assert.ok(maxX <= width - 4, `'${title}' ends inside the image (last dark column ${maxX} of ${width})`);
  }
});
