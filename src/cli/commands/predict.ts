/** `hemnet predict`: colour-mapped masks, overlays and attention maps as PNG. */
import { basename, extname, join } from 'node:path';
import sharp from 'sharp';
import { loadSamples, type SegmentationSample } from '../../data/types.js';
import { colorizeMask, imageToRgba, overlayMask, tileImages } from '../../plots/image.js';
import { writePng } from '../../plots/png.js';
import type { CommandSpec, Output } from '../command.js';
import { numberOption, requireOption, stringOption } from '../command.js';
import { createDatasets, ensureDir, loadRunModel, predictLabels, writeAttentionMaps } from '../run.js';

async function readImageFile(path: string, height: number, width: number, mean: readonly number[], std: readonly number[]): Promise<SegmentationSample> {
  let raw: Buffer;
  try {
    raw = await sharp(path).removeAlpha().resize(width, height, { fit: 'fill' }).raw().toBuffer();
  } catch (error) {
    throw new Error(`hemnet predict: cannot read image '${path}': ${(error as Error).message}`);
  }
  const image = new Float32Array(height * width * 3);
  for (let i = 0; i < image.length; i++) image[i] = ((raw[i] as number) / 255 - (mean[i % 3] as number)) / (std[i % 3] as number);
  return { image, label: new Uint8Array(height * width), height, width, channels: 3, id: basename(path, extname(path)) };
}

/** `hemnet predict`: colour-mapped masks, overlays and attention maps as PNG. */
export async function predictCommand(options: { run: string; out: string; images: string[]; count: number; backend?: string }, io: Output): Promise<string[]> {
  const { model, config } = await loadRunModel(options.run, options.backend, (note) => io.err(`${note}\n`));
  const { val, mean, std, palette } = await createDatasets(config, 'val');
  const [height, width] = config.model.inputSize;
  const samples: SegmentationSample[] = [];
  for (const path of options.images) samples.push(await readImageFile(path, height, width, mean, std));
  if (options.images.length === 0) samples.push(...(await loadSamples(val, Array.from({ length: Math.min(options.count, val.size) }, (_, index) => ({ index })))));
  await ensureDir(options.out);
  const written: string[] = [];
  for (const sample of samples) {
    const prediction = predictLabels(model, sample);
    const picture = imageToRgba(sample.image, sample.height, sample.width, sample.channels, { mean, std });
    const mask = colorizeMask(prediction, sample.height, sample.width, { ignoreLabel: val.ignoreLabel, palette });
    const overlay = overlayMask(picture, prediction, { ignoreLabel: val.ignoreLabel, palette });
    const maskPath = join(options.out, `${sample.id}-mask.png`);
    const panelPath = join(options.out, `${sample.id}-panel.png`);
    await writePng(maskPath, mask);
    await writePng(panelPath, tileImages([picture, overlay, mask], { columns: 3, gap: 2 }));
    written.push(maskPath, panelPath);
    const attentionPath = join(options.out, `${sample.id}-attention.png`);
    if (await writeAttentionMaps(attentionPath, model, sample)) written.push(attentionPath);
  }
  io.out(`wrote ${written.length} files to ${options.out}\n`);
  return written;
}

export const predictSpec: CommandSpec = {
  name: 'predict',
  summary: 'Write colour-mapped masks, overlays and HEM attention maps (PNG) for validation images or image files',
  synopsis: '--run DIR [--images FILES] [--count N] [--out DIR]',
  configFlags: true,
  options: {
    run: { type: 'string', value: 'DIR', help: "run folder written by 'hemnet train'" },
    out: { type: 'string', value: 'DIR', help: 'output folder (default <run>/predict)' },
    images: { type: 'string', value: 'FILES', help: 'comma-separated image files' },
    count: { type: 'string', value: 'N', help: 'number of validation images when no --images (default 4)' },
  },
  run: async ({ values, flags, io }) => {
    const run = requireOption('predict', '--run DIR', values.run, "a folder written by 'hemnet train'");
    const images = stringOption(values.images);
    await predictCommand(
      {
        run,
        out: stringOption(values.out) ?? `${run}/predict`,
        images: images === undefined ? [] : images.split(',').filter(Boolean),
        count: numberOption('count', values.count, 4),
        ...(flags.backend !== undefined ? { backend: flags.backend } : {}),
      },
      io,
    );
    return 0;
  },
};
