/**
 * `segment` and `loadSegmenter` for Node (`hemnet/node`): images also as
 * file paths or encoded bytes (Buffer), segmenters also from a run folder
 * or a model folder on disk. Node only.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tf from '@tensorflow/tfjs';
import '../data/builtinDatasets.js'; // registers 'scenes' and 'voc' (run configs name them)
import { decodeImage } from '../io/images.js';
import { loadModelFromFiles } from '../train/checkpointFiles.js';
import { defaultRunConfig, mergeRunConfig } from '../train/runConfig.js';
import { segmenterInfoForRun } from './runInfo.js';
import {
  checkSegmenterInfo,
  loadSegmenterFromUrl,
  segmentSync,
  SEGMENTER_FILE,
  type SegmentInput,
  type SegmentOptions,
  type SegmentResult,
  type Segmenter,
} from './segment.js';

/**
 * A saved model with its class names and normalisation, from
 * - a run folder written by `hemnet train` (its `model/`),
 * - a model folder (`model.json`, `weights.bin`, `segmenter.json`) or its `model.json`,
 * - an http(s) URL of such a folder.
 * A model folder without `segmenter.json` (runs from before it existed)
 * takes the description from the run's `config.json` next to it.
 */
export async function loadSegmenter(source: string): Promise<Segmenter> {
  if (typeof source !== 'string' || source === '') throw new Error(`loadSegmenter: 'source' must be a folder path or a URL, received ${JSON.stringify(source)}`);
  if (/^https?:\/\//.test(source)) return loadSegmenterFromUrl(source);
  const path = source.startsWith('file:') ? fileURLToPath(source) : source;
  let modelDir: string;
  if (existsSync(join(path, 'model', 'model.json'))) modelDir = join(path, 'model');
  else if (existsSync(join(path, 'model.json'))) modelDir = path;
  else if (basename(path) === 'model.json' && existsSync(path)) modelDir = dirname(path);
  else throw new Error(`loadSegmenter: '${source}' holds no saved model (model/model.json or model.json); 'hemnet train' writes one at the end of a run`);
  const infoPath = join(modelDir, SEGMENTER_FILE);
  let info;
  if (existsSync(infoPath)) {
    info = checkSegmenterInfo(JSON.parse(await readFile(infoPath, 'utf8')), infoPath);
  } else {
    const configPath = join(dirname(modelDir), 'config.json');
    if (!existsSync(configPath)) {
      throw new Error(`loadSegmenter: '${modelDir}' has no ${SEGMENTER_FILE} and no run config '${configPath}' to take class names and normalisation from`);
    }
    const config = mergeRunConfig(defaultRunConfig(), JSON.parse(await readFile(configPath, 'utf8')), configPath);
    info = segmenterInfoForRun(config);
  }
  const model: tf.LayersModel = await loadModelFromFiles(modelDir);
  return { model, info };
}

/**
 * `segment` of the browser entry, plus images as a file path or encoded
 * bytes (a Buffer of a JPEG/PNG file), decoded at their own size with sharp.
 */
export async function segment(target: Segmenter | tf.LayersModel, image: SegmentInput | string | Uint8Array, options: SegmentOptions = {}): Promise<SegmentResult> {
  const input = typeof image === 'string' || image instanceof Uint8Array ? await decodeImage(image, 'segment') : image;
  return segmentSync(target, input, options);
}
