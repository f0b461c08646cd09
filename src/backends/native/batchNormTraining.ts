/**
 * Batch-norm training as one kernel and its gradient as one more, for
 * backends that have them (`native`): y = (x − μ)·γ/√(σ² + ε) + β with μ,
 * σ² the batch moments over every axis but the last, which tfjs runs as
 * `tf.moments` + `tf.batchNorm` (5 forward kernels; ~25 more in the
 * gradient through the moments, plus reshapes and casts). On any other
 * backend `batchNormTraining` is exactly that tfjs composition.
 *
 * `installFusedBatchNormLayers` routes tfjs-layers' BatchNormalization in
 * training mode (channels last, centred and scaled) through it on those
 * backends, with tfjs's own moving-average updates; elsewhere, and in
 * inference, the layer is tfjs's. Nothing in node_modules is edited: the
 * override sits on the layer's prototype, installed at run time.
 */
import * as tf from '@tensorflow/tfjs';

/** The forward kernel: inputs x, scale, offset; attr epsilon; outputs [y, mean, variance]. */
export const BN_TRAINING_KERNEL = 'HemnetBatchNormTraining';
/** tfjs-layers' moving-average update of both statistics: inputs movingMean, movingVariance, mean, variance; attr decay; outputs [movingMean', movingVariance']. */
export const BN_MOVING_AVERAGE_KERNEL = 'HemnetBatchNormMovingAverage';
/** Its gradient: inputs dy, x, mean, variance, scale (and dMean, dVariance when they reach those outputs); outputs [dx, dScale, dOffset]. */
export const BN_TRAINING_GRAD_KERNEL = 'HemnetBatchNormTrainingGrad';

export interface BatchNormTrainingResult {
  y: tf.Tensor;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

let fusedEnabled = true;
/**
 * Turns the fused path off (`batchNormTraining` composes tfjs ops and the
 * layer runs tfjs's call, on every backend) or back on, e.g. to compare the
 * two in one process.
 */
export function setFusedBatchNorm(enabled: boolean): void {
  fusedEnabled = enabled;
}

function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/**
 * Normalises `x` `[..., C]` with its own batch statistics over every axis
 * but the last (as tfjs-layers' BatchNormalization in training): returns y
 * and the biased batch mean and variance `[C]` (as `tf.moments`).
 */
export function batchNormTraining(x: tf.Tensor, scale: tf.Tensor1D, offset: tf.Tensor1D, epsilon: number): BatchNormTrainingResult {
  const channels = x.shape[x.rank - 1];
  if (x.rank < 2 || channels === undefined || scale.shape[0] !== channels || offset.shape[0] !== channels) {
    throw new Error(`batchNormTraining: x must be [..., C] with scale and offset [C], received x [${x.shape.join(', ')}], scale [${scale.shape.join(', ')}], offset [${offset.shape.join(', ')}]`);
  }
  if (fusedEnabled && x.dtype === 'float32' && scale.dtype === 'float32' && offset.dtype === 'float32' && x.size > 0 && hasKernel(BN_TRAINING_KERNEL)) {
    const [y, mean, variance] = tf.engine().runKernel(BN_TRAINING_KERNEL, { x, scale, offset }, { epsilon }) as tf.Tensor[];
    return { y: y as tf.Tensor, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
  }
  return tf.tidy(() => {
    const axes = x.shape.map((_, i) => i).slice(0, -1);
    const { mean, variance } = tf.moments(x, axes);
    return { y: tf.batchNorm(x, mean, variance, offset, scale, epsilon), mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
  });
}

/** The gradient of `BN_TRAINING_KERNEL` (one `BN_TRAINING_GRAD_KERNEL` call). */
export const batchNormTrainingGradConfig: tf.GradConfig = {
  kernelName: BN_TRAINING_KERNEL,
  inputsToSave: ['x', 'scale'],
  outputsToSave: [false, true, true],
  gradFunc: (dys, saved, attrs) => {
    const [dy, dMean, dVariance] = (Array.isArray(dys) ? dys : [dys]) as (tf.Tensor | null)[];
    const [x, scale, mean, variance] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const inputs: tf.NamedTensorMap = { dy: dy ?? tf.zerosLike(x), x, mean, variance, scale };
    if (dMean !== null && dMean !== undefined) inputs['dMean'] = dMean;
    if (dVariance !== null && dVariance !== undefined) inputs['dVariance'] = dVariance;
    const [dx, dScale, dOffset] = tf.engine().runKernel(BN_TRAINING_GRAD_KERNEL, inputs, { epsilon: attrs['epsilon'] as number }) as tf.Tensor[];
    return { x: () => dx as tf.Tensor, scale: () => dScale as tf.Tensor, offset: () => dOffset as tf.Tensor };
  },
};

/**
 * Both moving statistics after one training step, current − (current − batch)·decay
 * (= m·current + (1 − m)·batch with decay = 1 − m): one kernel where the backend
 * has it (and the fused path is on), else null (the caller composes tfjs ops).
 */
export function fusedMovingAverages(movingMean: tf.Tensor, movingVariance: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, decay: number): [tf.Tensor, tf.Tensor] | null {
  const all = [movingMean, movingVariance, mean, variance];
  if (!fusedEnabled || !hasKernel(BN_MOVING_AVERAGE_KERNEL) || !all.every((t) => t.dtype === 'float32' && t.rank === 1 && t.shape[0] === mean.shape[0])) return null;
  return tf.engine().runKernel(BN_MOVING_AVERAGE_KERNEL, { movingMean, movingVariance, mean, variance }, { decay }) as [tf.Tensor, tf.Tensor];
}

/** The fields of tfjs-layers' BatchNormalization that the override reads. */
interface BatchNormLayerFields {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: { read(): tf.Tensor } | null;
  beta: { read(): tf.Tensor } | null;
  movingMean: { read(): tf.Tensor; write(value: tf.Tensor): void };
  movingVariance: { read(): tf.Tensor; write(value: tf.Tensor): void };
}

type CallFunction = (this: BatchNormLayerFields, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

const MARK = Symbol.for('hemnet.fusedBatchNormCall');


/** The input of a training call the fused path takes, or null (tfjs's call runs). */
function fusedInput(layer: BatchNormLayerFields, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown> | undefined): tf.Tensor | null {
  if (!fusedEnabled || kwargs?.['training'] !== true || !hasKernel(BN_TRAINING_KERNEL)) return null;
  const list = Array.isArray(inputs) ? inputs : [inputs];
  const input = list[0];
  if (list.length !== 1 || input === undefined || input.rank < 2 || input.dtype !== 'float32') return null;
  if (layer.axis !== -1 && layer.axis !== input.rank - 1) return null;
  if (!layer.center || !layer.scale || layer.gamma === null || layer.beta === null) return null;
  return input;
}

/** Installs the override on tfjs-layers' BatchNormalization prototype (idempotent). */
export function installFusedBatchNormLayers(): void {
  const prototype: unknown = Object.getPrototypeOf(tf.layers.batchNormalization({}));
  if (prototype === null || typeof prototype !== 'object') throw new Error('installFusedBatchNormLayers: could not find the tfjs-layers BatchNormalization class');
  const target = prototype as Record<PropertyKey, unknown>;
  if (target[MARK] === true) return;
  if (!Object.prototype.hasOwnProperty.call(target, 'call') || typeof target['call'] !== 'function') {
    throw new Error('installFusedBatchNormLayers: tfjs-layers BatchNormalization has no own call(); the tfjs version is not supported');
  }
  const original = target['call'] as CallFunction;
  const patched: CallFunction = function (this: BatchNormLayerFields, inputs, kwargs) {
    const input = fusedInput(this, inputs, kwargs);
    if (input === null) return original.call(this, inputs, kwargs);
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(input, (this.gamma as { read(): tf.Tensor }).read() as tf.Tensor1D, (this.beta as { read(): tf.Tensor }).read() as tf.Tensor1D, this.epsilon);
      // tfjs-layers' moving averages (current − (current − batch)·(1 − momentum)), both in one kernel.
      const decay = 1 - this.momentum;
      const current = [this.movingMean.read(), this.movingVariance.read()];
      if (current.every((t) => t.dtype === 'float32' && t.shape.length === 1 && t.shape[0] === mean.shape[0]) && hasKernel(BN_MOVING_AVERAGE_KERNEL)) {
        const [nextMean, nextVariance] = tf.engine().runKernel(BN_MOVING_AVERAGE_KERNEL, { movingMean: current[0] as tf.Tensor, movingVariance: current[1] as tf.Tensor, mean, variance }, { decay }) as tf.Tensor[];
        this.movingMean.write(nextMean as tf.Tensor);
        this.movingVariance.write(nextVariance as tf.Tensor);
      } else {
        const movingAverage = (variable: BatchNormLayerFields['movingMean'], value: tf.Tensor): void => {
          tf.tidy(() => {
            const previous = variable.read();
            variable.write(tf.sub(previous, tf.mul(tf.sub(previous, value), decay)));
          });
        };
        movingAverage(this.movingMean, mean);
        movingAverage(this.movingVariance, variance);
      }
      return y;
    });
  };
  target['call'] = patched;
  target[MARK] = true;
}
