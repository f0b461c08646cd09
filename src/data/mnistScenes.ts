/**
 * Node convenience: MNIST scenes with the digits read by `loadMnist`
 * ('train'/'val' from MNIST train, 'test' from MNIST test). Node only.
 */
import { loadMnist } from './mnist.js';
import { SceneDataset, type SceneOptions } from './scenes.js';

/** `new SceneDataset(loadMnist(...), options)`; see `SceneOptions`. */
export function loadMnistScenes(options: SceneOptions): SceneDataset {
  const split = (options as Partial<SceneOptions> | null)?.split;
  if (split !== 'train' && split !== 'val' && split !== 'test') {
    throw new Error(`loadMnistScenes: 'split' must be 'train', 'val' or 'test', received '${String(split)}'`);
  }
  return new SceneDataset(loadMnist(split === 'test' ? 'test' : 'train'), options);
}
