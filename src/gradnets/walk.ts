/**
 * One walk over a model's layers, shared by everything that looks for layers
 * of a kind (GradNet layers, HEM heads): layers of nested models, layers
 * inside wrappers, and sublayers of GradNet components, each once, depth-first.
 */
import * as tf from '@tensorflow/tfjs';
import { GradNetLayer } from './base.js';

/** A model, a layer, or a list of layers to search. */
export type LayerTarget = tf.LayersModel | tf.layers.Layer | ReadonlyArray<tf.layers.Layer>;

function childLayers(layer: tf.layers.Layer): tf.layers.Layer[] {
  if (layer instanceof GradNetLayer) return [...layer.sublayers];
  if (layer instanceof tf.LayersModel) return layer.layers;
  // tfjs wrappers (TimeDistributed, Bidirectional) hold their layer in `.layer`.
  const wrapped = (layer as unknown as { layer?: unknown }).layer;
  return wrapped instanceof tf.layers.Layer ? [wrapped] : [];
}

/** Every layer reachable from `target` that `isWanted` accepts; `fn` names the caller in errors. */
export function collectLayers<T extends tf.layers.Layer>(target: LayerTarget, isWanted: (layer: tf.layers.Layer) => layer is T, fn: string): T[] {
  const found: T[] = [];
  const seen = new Set<tf.layers.Layer>();
  const visit = (layer: tf.layers.Layer): void => {
    if (seen.has(layer)) return;
    seen.add(layer);
    if (isWanted(layer)) found.push(layer);
    for (const child of childLayers(layer)) visit(child);
  };
  const roots: ReadonlyArray<unknown> = Array.isArray(target) ? target : [target];
  for (const root of roots) {
    if (!(root instanceof tf.layers.Layer)) {
      throw new Error(`${fn}: 'target' must be a tf.LayersModel, a tf.layers.Layer or an array of layers, received ${typeof root}`);
    }
    visit(root);
  }
  return found;
}
