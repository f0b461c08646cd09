/**
 * One registration namespace for every serializable hemnet layer: a layer's
 * class name is `hemnet>Name` (tfjs's package>name form), and `registerLayer`
 * also maps the names older versions saved (hemnet 0.1 wrote 'HemHead' and
 * 'BilinearUpsample') to the same class, so their models still load.
 */
import * as tf from '@tensorflow/tfjs';

export const LAYER_NAMESPACE = 'hemnet';

type LayerClass = tf.serialization.SerializableConstructor<tf.serialization.Serializable> & { className: string };

/** The class name without the `hemnet>` namespace (for messages and summaries). */
export function shortClassName(className: string): string {
  return className.startsWith(`${LAYER_NAMESPACE}>`) ? className.slice(LAYER_NAMESPACE.length + 1) : className;
}

/**
 * Registers a layer class whose static `className` is `hemnet>Name`, plus
 * `legacyNames` it was saved under before. Loading a model resolves any of
 * them to `cls`; saving writes `hemnet>Name`.
 */
export function registerLayer(cls: LayerClass, legacyNames: readonly string[] = []): void {
  const prefix = `${LAYER_NAMESPACE}>`;
  if (!cls.className.startsWith(prefix)) {
    throw new Error(`registerLayer: 'className' must start with '${prefix}', received '${cls.className}'`);
  }
  tf.serialization.registerClass(cls, LAYER_NAMESPACE, shortClassName(cls.className));
  const map = tf.serialization.SerializationMap.getMap().classNameMap;
  const entry = map[cls.className];
  if (entry === undefined) throw new Error(`registerLayer: tfjs did not register '${cls.className}'`);
  for (const name of legacyNames) map[name] = entry;
}

const nameCounters = new Map<string, number>();

/**
 * Default layer name, e.g. 'hem_head_3'. tfjs would derive one from the
 * class name, but ours contain '>' ('hemnet>HemHead'), which is not valid in
 * weight names.
 */
export function defaultLayerName(className: string): string {
  const base = shortClassName(className)
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase();
  const count = (nameCounters.get(base) ?? 0) + 1;
  nameCounters.set(base, count);
  return `${base}_${count}`;
}
