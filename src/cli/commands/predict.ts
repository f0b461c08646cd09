/** `hemnet predict`: colour-mapped masks, overlays and attention maps as PNG. */
import { basename, extname, join } from 'node:path';
import { loadSamples } from '../../data/types.js';
import * as tf from '@tensorflow/tfjs';
import { segmentSync } from '../../infer/segment.js';
import { segmenterInfoForRun } from '../../infer/runInfo.js';
import { decodeImage } from '../../io/images.js';
import { colorizeMask, imageToRgba, overlayMask, tileImages, type RgbaImage } from '../../plots/image.js';
import { writePng } from '../../plots/png.js';
import { mergeRunConfig, type PartialRunConfig } from '../../train/runConfig.js';
import type { CommandSpec, Output } from '../command.js';
import { numberOption, requireOption, stringOption } from '../command.js';
import { createDatasets, ensureDir, loadRunModel, runInference } from '../run.js';

/** `hemnet predict`: colour-mapped masks, overlays and attention maps as PNG, at each image's own size. */
export async function predictCommand(
  options: { run: string; out: string; images: string[]; count: number; backend?: string; eval?: PartialRunConfig['eval'] },
  io: Output,
): Promise<string[]> {
  const loaded = await loadRunModel(options.run, options.backend, (note) => io.err(`${note}\n`));
  const model = loaded.model;
  // --eval-mode / --eval-crop-size / --eval-stride choose how images are run.
  const config = options.eval !== undefined ? mergeRunConfig(loaded.config, { eval: options.eval }, 'flags') : loaded.config;
  const info = segmenterInfoForRun(config);
  const { mean, std, ignoreLabel } = info;
  const segmenter = { model, info: { ...info, inference: runInference(config) } };
  const needsData = options.images.length === 0;
  const datasets = needsData ? await createDatasets(config, 'val') : null;
  const palette = datasets?.palette;
  const colors = { ignoreLabel, ...(palette !== undefined ? { palette } : {}) };
  await ensureDir(options.out);
  const written: string[] = [];
  const write = async (id: string, picture: RgbaImage, labels: Uint8Array, attention: RgbaImage | null): Promise<void> => {
    const mask = colorizeMask(labels, picture.height, picture.width, colors);
    const overlay = overlayMask(picture, labels, colors);
    const paths = { mask: join(options.out, `${id}-mask.png`), overlay: join(options.out, `${id}-overlay.png`), panel: join(options.out, `${id}-panel.png`) };
    await writePng(paths.mask, mask);
    await writePng(paths.overlay, overlay);
    await writePng(paths.panel, tileImages([picture, overlay, mask], { columns: 3, gap: 2 }));
    written.push(paths.mask, paths.overlay, paths.panel);
    if (attention !== null) {
      const attentionPath = join(options.out, `${id}-attention.png`);
      await writePng(attentionPath, attention);
      written.push(attentionPath);
    }
  };
  for (const path of options.images) {
    const image = await decodeImage(path, 'hemnet predict');
    const result = segmentSync(segmenter, image);
    const picture: RgbaImage = { data: new Uint8ClampedArray(image.width * image.height * 4), width: image.width, height: image.height };
    for (let p = 0; p < image.width * image.height; p++) {
      picture.data.set(image.data.subarray(3 * p, 3 * p + 3), 4 * p);
      picture.data[4 * p + 3] = 255;
    }
    await write(basename(path, extname(path)), picture, result.labels, result.attention?.grid ?? null);
    io.out(`${path}: ${image.width}×${image.height}, ${result.mode} inference\n`);
  }
  if (datasets !== null) {
    const { val } = datasets;
    for (let i = 0; i < Math.min(options.count, val.size); i++) {
      const [sample] = await loadSamples(val, [{ index: i }]);
      if (sample === undefined) continue;
      const picture = imageToRgba(sample.image, sample.height, sample.width, sample.channels, { mean, std });
      const input = tf.tensor3d(sample.image, [sample.height, sample.width, sample.channels]);
      const result = segmentSync(segmenter, input, { normalized: true });
      input.dispose();
      await write(sample.id, picture, result.labels, result.attention?.grid ?? null);
    }
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
        ...(flags.eval !== undefined ? { eval: flags.eval } : {}),
      },
      io,
    );
    return 0;
  },
};
