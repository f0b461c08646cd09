/**
 * Makes `tf.layers.conv2d({dilationRate: d > 1})` trainable.
 *
 * tfjs-layers runs a 2-D conv layer through `tf.fused.conv2d`, which with a
 * linear activation stays fused while recording gradients, and the fused op's
 * own gradient (a closure inside tfjs-core, not in the gradient registry)
 * asserts dilation 1. No registry entry can reach it, so for dilated 2-D conv
 * layers only, we route `call` through the unfused ops (`tf.conv2d`, bias add,
 * activation) — the same math, whose `Conv2D` gradient hemnet registers with
 * dilation support. The layer class, its config and its serialisation are
 * untouched (`model.save` / `loadLayersModel` work as before); the override
 * is installed once on the shared prototype of tfjs-layers' `Conv` base class
 * (the parent of `Conv2D`), at run time — nothing in node_modules is edited.
 *
 * On wasm, 2-D conv layers without bias and with a linear activation (the
 * zoo's conv → BN units) take the unfused path too. There the fused op runs
 * the same kernel forward and the same two gradient kernels, but its
 * `customGrad` computes the input's gradient even where nothing needs it:
 * the first conv's input is the image, and its gradient (`Conv2DBackpropInput`
 * [8, 32, 32, 16] · [3, 3, 3, 16] per batch-8 step of the default model,
 * ≈ 1.2 ms) was computed and thrown away. The registered `Conv2D` gradient
 * is a tape entry per input, which the tape prunes.
 */
import * as tf from '@tensorflow/tfjs';

/** The fields of tfjs-layers' `Conv` layer that the override reads. */
interface ConvLayerFields {
  rank: number;
  dilationRate: number | number[];
  strides: number | number[];
  padding: string;
  dataFormat: string;
  kernel: { read(): tf.Tensor };
  bias: { read(): tf.Tensor } | null;
  activation: { apply(x: tf.Tensor): tf.Tensor; getClassName?(): string } | null;
}

type CallFunction = (this: ConvLayerFields, inputs: tf.Tensor | tf.Tensor[], kwargs: unknown) => tf.Tensor | tf.Tensor[];

const MARK = Symbol.for('hemnet.dilatedConvCall');

function isDilated2d(layer: ConvLayerFields): boolean {
  if (layer.rank !== 2) return false;
  const rates = Array.isArray(layer.dilationRate) ? layer.dilationRate : [layer.dilationRate];
  return rates.some((rate) => rate !== 1);
}

function unfusedCall(layer: ConvLayerFields, inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return tf.tidy(() => {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const input = list[0];
    if (list.length !== 1 || input === undefined) {
      throw new Error(`Conv2D (hemnet dilated path): expected exactly one input tensor, received ${list.length}`);
    }
    const channelsFirst = layer.dataFormat === 'channelsFirst';
    let x = channelsFirst ? tf.transpose(input, [0, 2, 3, 1]) : input;
    const rates = Array.isArray(layer.dilationRate) ? layer.dilationRate : [layer.dilationRate, layer.dilationRate];
    const strides = Array.isArray(layer.strides) ? layer.strides : [layer.strides, layer.strides];
    let y: tf.Tensor = tf.conv2d(
      x as tf.Tensor4D,
      layer.kernel.read() as tf.Tensor4D,
      [strides[0] ?? 1, strides[1] ?? 1],
      layer.padding === 'same' ? 'same' : 'valid',
      'NHWC',
      [rates[0] ?? 1, rates[1] ?? 1],
    );
    if (layer.bias !== null && layer.bias !== undefined) y = tf.add(y, layer.bias.read());
    if (channelsFirst) y = tf.transpose(y, [0, 3, 1, 2]);
    x = y;
    return layer.activation === null || layer.activation === undefined ? x : layer.activation.apply(x);
  });
}

/** A 2-D conv layer without bias and with a linear activation, on wasm (see the module comment). */
function isPlainOnWasm(layer: ConvLayerFields): boolean {
  if (layer.rank !== 2 || (layer.bias !== null && layer.bias !== undefined) || tf.getBackend() !== 'wasm') return false;
  const activation = layer.activation;
  return activation === null || activation === undefined || activation.getClassName?.() === 'linear';
}

/** Installs the dilated-conv override on tfjs-layers' `Conv` prototype (idempotent). */
export function installDilatedConvLayers(): void {
  const probe: object = tf.layers.conv2d({ filters: 1, kernelSize: 1 });
  const conv2dPrototype: unknown = Object.getPrototypeOf(probe);
  const convPrototype: unknown = conv2dPrototype === null ? null : Object.getPrototypeOf(conv2dPrototype);
  if (convPrototype === null || typeof convPrototype !== 'object') {
    throw new Error('installDilatedConvLayers: could not find the tfjs-layers Conv base class');
  }
  const target = convPrototype as Record<PropertyKey, unknown>;
  if (target[MARK] === true) return;
  if (!Object.prototype.hasOwnProperty.call(target, 'call') || typeof target['call'] !== 'function') {
    throw new Error('installDilatedConvLayers: tfjs-layers Conv has no own call(); the tfjs version is not supported');
  }
  const original = target['call'] as CallFunction;
  const patched: CallFunction = function (this: ConvLayerFields, inputs, kwargs) {
    if (isDilated2d(this) || isPlainOnWasm(this)) return unfusedCall(this, inputs);
    return original.call(this, inputs, kwargs);
  };
  target['call'] = patched;
  target[MARK] = true;
}
