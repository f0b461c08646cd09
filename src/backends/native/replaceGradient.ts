/**
 * Replaces tfjs's registered gradient of a kernel by hemnet's, once per
 * process: the mark lives on globalThis (a Symbol.for key), so two copies of
 * hemnet's modules do not register it twice.
 */
import * as tf from '@tensorflow/tfjs';

/** Unregisters `config.kernelName`'s gradient (if any) and registers `config`; a no-op once `markKey` is set. */
export function replaceGradient(config: tf.GradConfig, markKey: string): void {
  const registry = globalThis as unknown as Record<PropertyKey, unknown>;
  const mark = Symbol.for(markKey);
  if (registry[mark] === true) return;
  if (tf.getGradient(config.kernelName) !== undefined) tf.unregisterGradient(config.kernelName);
  tf.registerGradient(config);
  registry[mark] = true;
}
