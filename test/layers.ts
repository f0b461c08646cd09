/** Test utilities for tfjs-layers models: in-memory save/load. */
import * as tf from '@tensorflow/tfjs';
import { modelArtifacts } from '../src/train/checkpoint.js';

/**
 * Saves a model to memory and loads it back (topology, weights, registered
 * custom classes). The topology goes through a JSON string, as a file would.
 */
export async function saveAndLoad(model: tf.LayersModel): Promise<tf.LayersModel> {
  const artifacts = await modelArtifacts(model);
  const topology = JSON.parse(JSON.stringify(artifacts.modelTopology)) as tf.io.ModelArtifacts['modelTopology'];
  return tf.loadLayersModel(tf.io.fromMemory({ ...artifacts, modelTopology: topology }));
}
