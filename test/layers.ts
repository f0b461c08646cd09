/** Test utilities for tfjs-layers models: in-memory save/load. */
import * as tf from '@tensorflow/tfjs';

/** Saves a model to memory and loads it back (topology, weights, registered custom classes). */
export async function saveAndLoad(model: tf.LayersModel): Promise<tf.LayersModel> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (saved === undefined) throw new Error('saveAndLoad: nothing was saved');
  return tf.loadLayersModel(tf.io.fromMemory(saved));
}
