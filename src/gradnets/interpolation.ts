/**
 * The generic GradNet component (GradNets paper, "Method Description"): any
 * two layers whose outputs have the same shape, mixed as
 *   y = g·late(x) + (1 − g)·early(x).
 */
import * as tf from '@tensorflow/tfjs';
import { registerLayer } from '../layers/serialization.js';
import { GradNetLayer, describeShape } from './base.js';
import type { GradNetLayerArgs, Kwargs, Shape } from './base.js';

export interface GradualInterpolationArgs extends GradNetLayerArgs {
  /** The easy-to-train component, used alone at g = 0. */
  early: tf.layers.Layer;
  /** The expressive component, used alone at g = 1. */
  late: tf.layers.Layer;
}

function isConfigDict(value: unknown): value is tf.serialization.ConfigDict {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Rebuilds a layer from `{className, config}` using tfjs' class registry. */
export function deserializeLayer(fn: string, name: string, value: unknown): tf.layers.Layer {
  if (!isConfigDict(value) || typeof value['className'] !== 'string' || !isConfigDict(value['config'])) {
    throw new Error(`${fn}: '${name}' must be a serialized layer {className, config}, received ${JSON.stringify(value)}`);
  }
  const className = value['className'];
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (entry === undefined) {
    throw new Error(`${fn}: '${name}' has unknown layer class '${className}' (is it registered with tf.serialization.registerClass?)`);
  }
  const [cls, fromConfig] = entry;
  const layer = fromConfig(cls, value['config']);
  if (!(layer instanceof tf.layers.Layer)) {
    throw new Error(`${fn}: '${name}' class '${className}' is not a tf.layers.Layer`);
  }
  return layer;
}

function serializeLayer(layer: tf.layers.Layer): tf.serialization.ConfigDict {
  return { className: layer.getClassName(), config: layer.getConfig() };
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** g·late(x) + (1 − g)·early(x) for any two layers with equal output shapes. */
export class GradualInterpolation extends GradNetLayer {
  static readonly className = 'hemnet>GradualInterpolation';
  readonly early: tf.layers.Layer;
  readonly late: tf.layers.Layer;

  constructor(args: GradualInterpolationArgs) {
    const fn = 'GradualInterpolation';
    if (typeof args !== 'object' || args === null) {
      throw new Error(`${fn}: 'args' must be an object {early, late}, received ${String(args)}`);
    }
    const { early, late, ...rest } = args;
    if (!(early instanceof tf.layers.Layer)) {
      throw new Error(`${fn}: 'early' must be a tf.layers.Layer, received ${typeof early}`);
    }
    if (!(late instanceof tf.layers.Layer)) {
      throw new Error(`${fn}: 'late' must be a tf.layers.Layer, received ${typeof late}`);
    }
    if (early === late) {
      throw new Error(`${fn}: 'early' and 'late' must be two different layer objects, received the same layer '${early.name}' twice`);
    }
    super(rest);
    this.early = this.addSublayer(early);
    this.late = this.addSublayer(late);
  }

  override build(inputShape: Shape | Shape[]): void {
    super.build(inputShape);
    const shape = inputShape as Shape;
    const earlyShape = this.buildSublayer(this.early, shape);
    const lateShape = this.buildSublayer(this.late, shape);
    if (!sameShape(earlyShape, lateShape)) {
      throw new Error(
        `GradualInterpolation: 'early' and 'late' must produce equal output shapes, received ` +
          `${describeShape(earlyShape)} from '${this.early.name}' and ${describeShape(lateShape)} from '${this.late.name}' ` +
          `for input ${describeShape(shape)}`,
      );
    }
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return this.early.computeOutputShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
      const early = this.callSublayer(this.early, x, kwargs);
      const late = this.callSublayer(this.late, x, kwargs);
      return this.interpolate(early, late);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { early: serializeLayer(this.early), late: serializeLayer(this.late), ...super.getConfig() };
  }

  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const { early, late, ...rest } = config;
    const args = {
      ...rest,
      early: deserializeLayer('GradualInterpolation.fromConfig', 'early', early),
      late: deserializeLayer('GradualInterpolation.fromConfig', 'late', late),
    };
    return new cls(args);
  }
}
registerLayer(GradualInterpolation);
