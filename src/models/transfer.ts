/**
 * Copies backbone weights between tfjs-layers models by layer name (e.g. a
 * backbone pretrained in one segmentation model into a fresh one with another
 * head). Everything is checked before anything is written: on an error the
 * target is unchanged.
 */
import * as tf from '@tensorflow/tfjs';
import { BACKBONE_PREFIX } from './backbones.js';

export interface LoadBackboneWeightsOptions {
  /** Layers whose name starts with `prefix + '/'` are copied; '' = every layer with weights. Default 'backbone'. */
  prefix?: string;
  /** Skip source layers with no counterpart in the target instead of failing. Default false. */
  allowMissing?: boolean;
}

export interface BackboneTransferReport {
  /** Layers whose weights were copied, in source order. */
  copiedLayers: string[];
  /** Number of weight tensors copied. */
  copiedWeights: number;
  /** Number of scalars copied. */
  copiedParameters: number;
  /** Source layers with no counterpart in the target (only with `allowMissing`). */
  missingInTarget: string[];
  /** Target layers under the prefix that the source did not provide. */
  notInSource: string[];
}

const FN = 'loadBackboneWeights';

function shapeText(shape: readonly (number | null)[]): string {
  return `[${shape.join(', ')}]`;
}

/** The weight's own name inside its layer: 'kernel', 'gamma', 'moving_mean', 'bases', ... */
function weightKey(layerName: string, weight: tf.LayerVariable): string {
  const name = weight.originalName;
  const scoped = `${layerName}/`;
  return name.startsWith(scoped) ? name.slice(scoped.length) : (name.split('/').pop() ?? name);
}

function layersUnder(model: tf.LayersModel, prefix: string): tf.layers.Layer[] {
  return model.layers.filter((layer) => layer.weights.length > 0 && (prefix === '' || layer.name.startsWith(`${prefix}/`)));
}

/**
 * Copies every weight of every source layer under `prefix` into the target
 * layer of the same name. `source` is a loaded `tf.LayersModel`, or anything
 * `tf.loadLayersModel` accepts (URL/path of a `model.json`, an IOHandler);
 * a model loaded here is disposed afterwards.
 *
 * Errors: a layer whose weights differ in shape (names the layer and both
 * shapes); source layers missing in the target (listed; `allowMissing`
 * skips them); no layer under the prefix in the source.
 */
export async function loadBackboneWeights(
  target: tf.LayersModel,
  source: tf.LayersModel | string | tf.io.IOHandler,
  options: LoadBackboneWeightsOptions = {},
): Promise<BackboneTransferReport> {
  const prefix = options.prefix ?? BACKBONE_PREFIX;
  if (typeof prefix !== 'string') throw new Error(`${FN}: 'prefix' must be a string, received ${JSON.stringify(prefix)}`);
  if (!(target instanceof tf.LayersModel)) throw new Error(`${FN}: 'target' must be a tf.LayersModel, received ${typeof target}`);
  const loadedHere = !(source instanceof tf.LayersModel);
  const sourceModel = source instanceof tf.LayersModel ? source : await tf.loadLayersModel(source);
  try {
    return copyWeights(target, sourceModel, prefix, options.allowMissing ?? false);
  } finally {
    if (loadedHere) sourceModel.dispose();
  }
}

function copyWeights(target: tf.LayersModel, source: tf.LayersModel, prefix: string, allowMissing: boolean): BackboneTransferReport {
  const sourceLayers = layersUnder(source, prefix);
  if (sourceLayers.length === 0) {
    throw new Error(`${FN}: the source model has no layer with weights under the prefix '${prefix}'`);
  }
  const targetLayers = new Map(layersUnder(target, prefix).map((layer) => [layer.name, layer]));
  const missing = sourceLayers.filter((layer) => !targetLayers.has(layer.name)).map((layer) => layer.name);
  if (missing.length > 0 && !allowMissing) {
    throw new Error(`${FN}: ${missing.length} source layer(s) have no counterpart in the target: ${missing.join(', ')} (pass allowMissing: true to skip them)`);
  }
  const pairs: [tf.LayerVariable, tf.LayerVariable][] = [];
  const copiedLayers: string[] = [];
  for (const layer of sourceLayers) {
    const counterpart = targetLayers.get(layer.name);
    if (counterpart === undefined) continue;
    const targetWeights = new Map(counterpart.weights.map((w) => [weightKey(counterpart.name, w), w]));
    const sourceKeys = layer.weights.map((w) => weightKey(layer.name, w));
    const unmatched = [...targetWeights.keys()].filter((key) => !sourceKeys.includes(key));
    const extra = sourceKeys.filter((key) => !targetWeights.has(key));
    if (unmatched.length > 0 || extra.length > 0) {
      throw new Error(
        `${FN}: layer '${layer.name}' has weights [${sourceKeys.join(', ')}] in the source but [${[...targetWeights.keys()].join(', ')}] in the target`,
      );
    }
    layer.weights.forEach((weight, i) => {
      const key = sourceKeys[i] as string;
      const counterpartWeight = targetWeights.get(key) as tf.LayerVariable;
      if (shapeText(weight.shape) !== shapeText(counterpartWeight.shape)) {
        throw new Error(
          `${FN}: shape mismatch in layer '${layer.name}' weight '${key}': source ${shapeText(weight.shape)}, target ${shapeText(counterpartWeight.shape)}`,
        );
      }
      pairs.push([weight, counterpartWeight]);
    });
    copiedLayers.push(layer.name);
  }
  // All checks passed: write.
  let copiedParameters = 0;
  for (const [from, to] of pairs) {
    const value = tf.clone(from.read());
    to.write(value);
    value.dispose();
    copiedParameters += tf.util.sizeFromShape(from.shape as number[]);
  }
  const copied = new Set(copiedLayers);
  return {
    copiedLayers,
    copiedWeights: pairs.length,
    copiedParameters,
    missingInTarget: missing,
    notInSource: [...targetLayers.keys()].filter((name) => !copied.has(name)),
  };
}
