/**
 * Base class of every GradNet component (GradNets paper, "Method
 * Description"): output = g·late + (1 − g)·early, g annealed from 0 to 1.
 *
 * g lives in a non-trainable scalar weight named `gate`:
 * - the optimiser never touches it (it is not in `trainableWeights`);
 * - `model.save` stores it with the other weights and `tf.loadLayersModel`
 *   restores it, so a checkpoint resumes with the g it was saved with;
 * - changing it (`setGate`) writes the variable in place: nothing is rebuilt and
 *   the next `predict`/`fit` step reads the new value.
 *
 * Components that contain other layers (`GradualInterpolation`, the
 * convolutional ones, batch norm, the spatial transformer) register them as
 * sublayers: their weights are reported through this layer's
 * `trainableWeights`/`nonTrainableWeights`, so models save, load and train them.
 */
import { checkInteger, checkKnownKeys, checkOneOf, describeValue } from '../schema.js';
import * as tf from '@tensorflow/tfjs';
import { defaultLayerName, shortClassName } from '../layers/serialization.js';

/** Constructor arguments of `tf.layers.Layer` (name, trainable, inputShape, …). */
export type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
/** A tfjs-layers shape: `null` for an unknown (batch) dimension. */
export type Shape = Array<number | null>;
/** Keyword arguments of `Layer.call` (`training` is the one we read). */
export type Kwargs = Record<string, unknown>;

export interface GradNetLayerArgs extends LayerArgs {
  /** g before any controller sets it; in [0, 1], default 0 (the early branch). */
  initialGate?: number;
}

export function describeShape(shape: ReadonlyArray<number | null>): string {
  return `[${shape.map((d) => (d === null ? 'null' : String(d))).join(', ')}]`;
}

export { describeValue };

/** Throws `fn: 'name' must be …, received …` unless `value` is a finite number in [lo, hi] (or [lo, hi) when `openHigh`). */
export function checkNumberInRange(fn: string, name: string, value: unknown, lo: number, hi: number, openHigh = false): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && value >= lo && (openHigh ? value < hi : value <= hi);
  if (!ok) {
    throw new Error(`${fn}: '${name}' must be a number in [${lo}, ${hi}${openHigh ? ')' : ']'}, received ${describeValue(value)}`);
  }
  return value as number;
}

/** Throws unless `value` is an integer ≥ `min` (src/schema.ts). */
export { checkInteger };

/** One membership check for the whole library (src/schema.ts). */
export { checkOneOf };

/** Reads the `training` flag tfjs-layers passes in `kwargs` (true inside `fit`). */
export function isTraining(kwargs: Kwargs | undefined): boolean {
  return kwargs !== undefined && kwargs['training'] === true;
}

/**
 * Keys `tf.layers.Layer` accepts (and writes in `getConfig`), plus
 * `customObjects`, which tfjs' deserializer adds when loading nested models.
 */
const LAYER_ARG_KEYS = ['inputShape', 'batchInputShape', 'batchSize', 'dtype', 'name', 'trainable', 'weights', 'inputDType', 'customObjects'] as const;

export abstract class GradNetLayer extends tf.layers.Layer {
  /** g at construction (config value; the live value is `gate`). */
  readonly initialGate: number;
  private gateVariable: tf.LayerVariable | null = null;
  private pendingGate: number;
  private ownedSublayers: tf.layers.Layer[] = [];

  constructor(args: GradNetLayerArgs = {}) {
    const { initialGate = 0, ...layerArgs } = args;
    // The static className survives minification, unlike the JS class name.
    const className = (new.target as unknown as { className?: string }).className ?? new.target.name;
    const shortName = shortClassName(className);
    // Subclasses take their own keys out before calling super(), so anything
    // left that tf.layers.Layer does not know is a typo in a config.
    checkKnownKeys(shortName, 'argument', layerArgs, LAYER_ARG_KEYS);
    super({ ...layerArgs, name: layerArgs.name ?? defaultLayerName(className) });
    this.initialGate = checkNumberInRange(shortName, 'initialGate', initialGate, 0, 1);
    this.pendingGate = this.initialGate;
  }

  /** Class name without the 'hemnet>' registry prefix, for messages. */
  protected displayName(): string {
    return shortClassName(this.getClassName());
  }

  /** Layers this component contains (what controllers search for nested GradNets). */
  get sublayers(): readonly tf.layers.Layer[] {
    return this.ownedSublayers ?? [];
  }

  /** Current g (reads the variable once built). */
  get gate(): number {
    if (this.gateVariable === null) return this.pendingGate;
    return (this.gateVariable.read().dataSync() as Float32Array)[0] as number;
  }

  /** Sets g ∈ [0, 1] in place: no rebuild, the next call uses it. */
  setGate(g: number): void {
    checkNumberInRange(`${this.displayName()}.setGate`, 'g', g, 0, 1);
    const variable = this.gateVariable;
    if (variable === null) {
      this.pendingGate = g;
      return;
    }
    tf.tidy(() => {
      variable.write(tf.scalar(g, 'float32'));
    });
  }

  /**
   * Creates the `gate` weight. Subclasses call `super.build(inputShape)` first
   * and then build their sublayers.
   */
  override build(inputShape: Shape | Shape[]): void {
    if (this.gateVariable === null) {
      this.gateVariable = this.addWeight(
        'gate',
        [],
        'float32',
        tf.initializers.constant({ value: this.pendingGate }),
        undefined,
        false,
      );
    }
    void inputShape;
    this.built = true;
  }

  /** The gate as a scalar tensor (owned by the layer; do not dispose). */
  protected gateTensor(): tf.Scalar {
    if (this.gateVariable === null) {
      throw new Error(`${this.displayName()}: layer '${this.name}' must be built before it is called`);
    }
    return this.gateVariable.read() as tf.Scalar;
  }

  /**
   * g·late + (1 − g)·early. Written as two products (not early + g·(late −
   * early)) so that g = 0 gives `early` and g = 1 gives `late` bit for bit.
   */
  protected interpolate(early: tf.Tensor, late: tf.Tensor): tf.Tensor {
    const g = this.gateTensor();
    return tf.add(tf.mul(late, g), tf.mul(early, tf.sub(1, g)));
  }

  /** Registers a contained layer so its weights belong to this layer. */
  protected addSublayer<L extends tf.layers.Layer>(layer: L): L {
    this.ownedSublayers.push(layer);
    if (!this.trainable) layer.trainable = false;
    return layer;
  }

  /**
   * Builds `layer` on a symbolic input of `inputShape` (through `apply`, so its
   * weights are named `<this>/<layer>/<weight>` and never collide) and returns
   * the output shape.
   */
  protected buildSublayer(layer: tf.layers.Layer, inputShape: Shape): Shape {
    const symbolic = tf.input({ batchShape: inputShape });
    const out = layer.apply(symbolic) as tf.SymbolicTensor;
    return out.shape;
  }

  /** Runs a sublayer eagerly with the same kwargs (e.g. `training`). */
  protected callSublayer(layer: tf.layers.Layer, x: tf.Tensor, kwargs: Kwargs | undefined): tf.Tensor {
    return layer.apply(x, kwargs ?? {}) as tf.Tensor;
  }

  override get trainable(): boolean {
    return super.trainable;
  }

  override set trainable(value: boolean) {
    super.trainable = value;
    for (const layer of this.ownedSublayers ?? []) layer.trainable = value;
  }

  override get trainableWeights(): tf.LayerVariable[] {
    const own = super.trainableWeights;
    if (!this.trainable) return own;
    return own.concat(...(this.ownedSublayers ?? []).map((l) => l.trainableWeights));
  }

  override set trainableWeights(weights: tf.LayerVariable[]) {
    super.trainableWeights = weights;
  }

  override get nonTrainableWeights(): tf.LayerVariable[] {
    const own = super.nonTrainableWeights;
    const subs = this.ownedSublayers ?? [];
    return own.concat(...subs.map((l) => (this.trainable ? l.nonTrainableWeights : l.weights)));
  }

  override set nonTrainableWeights(weights: tf.LayerVariable[]) {
    super.nonTrainableWeights = weights;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { initialGate: this.initialGate, ...super.getConfig() };
  }
}
