/**
 * hemnet's extra kernels and gradients, installed by `setBackend` so that
 * plain tfjs code (`tf.conv2d`, `tf.layers.conv2d({dilationRate: 2})`,
 * `optimizer.minimize`) trains convolutional nets on the `wasm` backend.
 *
 * On every backend (global, once):
 * - a `Conv2D` gradient that supports dilation > 1 (`conv2dGrad.ts`);
 * - dilated 2-D conv layers routed through that gradient (`layersDilatedConv.ts`);
 * - a `FusedBatchNorm` gradient with per-channel sums as rank-2 products (`batchNormGrad.ts`);
 * - `Mean` and `Sum` gradients that broadcast dy instead of multiplying by a ones tensor (`reduceGrad.ts`).
 * On `wasm`:
 * - `Conv2DBackpropFilter` (missing in tfjs 4.22) via im2col + fast rank-2 matMul;
 * - `Conv2DBackpropInput` replaced by a forward XNNPACK convolution;
 * - `Identity` sharing the data instead of copying it (`identity.ts`);
 * - `BatchMatMul` with transpose flags on one matrix: operand transposed on the heap, stock fast path; batched
 *   products in WebAssembly SIMD block kernels (`batchMatMul.ts`, `batchMatMulSimd.ts`);
 * - `HemnetWinogradConv2D`, a 3×3 stride-1 conv as Winograd F(4×4, 3×3) or F(2×2, 3×3) for inference
 *   (`winogradConv.ts`, src/ops/winograd.ts);
 * - `Conv2D` and `FusedConv2D` wrapped: 3×3 stride-1 'same' convs as Winograd F(4×4, 3×3) from 16 channels
 *   where the map is a multiple of 4·dilation, else F(2×2, 3×3) from 32, the filter transformed per call
 *   (`winogradTraining.ts`; also `Conv2DBackpropInput`'s and `Conv2DBackpropFilter`'s stride-1 cases);
 *   `setWasmWinograd(false)` turns it off, `setWasmWinogradTile(2)` keeps F(2×2, 3×3);
 * - `HemnetBatchNormSums`, the batch-norm gradient's two per-channel sums in one pass (`batchNormSums.ts`);
 * - `HemnetBroadcastTo`, broadcasting by block copies on the heap, for the `Mean`/`Sum` gradients (`broadcast.ts`);
 * - the native backend's training-step fusions in JS on the heap (`fusedTraining.ts`): batch norm in
 *   training as one kernel forward, one backward and one for the moving statistics; the weight-decay
 *   sum Σ‖w‖²; the segmentation loss with its gradient as one kernel, the exponentials in SIMD (`crossEntropy.ts`);
 * - tensors saved for gradients without an `Identity` dispatch each (src/backends/native/sharedSaves.ts);
 * - `MaxPoolGrad` and `AvgPoolGrad` in JS on the heap, visiting each window once (`pooling.ts`);
 * - `HemnetReluGrad`, the gradient of `Relu` as one WebAssembly SIMD kernel instead of Step, Cast and
 *   Multiply (`reluGrad.ts`; the gradient config is the native backend's);
 * - `HemnetHemUnroll` / `HemnetHemUnrollGrad`, the unrolled highway EM of `unrollHem` as one kernel
 *   each way on the heap (`hemUnroll.ts`; names, attrs and gradient config are the native backend's).
 * The convolution gradients accept a `dilations` attr.
 * The gradients of the fused kernels and the batch-norm layer routed through them are installed
 * on every backend (global, once): tfjs's own composition runs wherever the active backend lacks
 * the kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { batchMatMulWasm } from './batchMatMul.js';
import { batchNormGradConfig } from './batchNormGrad.js';
import { BATCH_NORM_SUMS, batchNormSumsWasm } from './batchNormSums.js';
import { BROADCAST_TO, broadcastToWasm } from './broadcast.js';
import { conv2dBackpropFilterWasm } from './conv2dBackpropFilter.js';
import { conv2dBackpropInputWasm } from './conv2dBackpropInput.js';
import { conv2dGradConfig, markDilationAware } from './conv2dGrad.js';
import { identityWasm } from './identity.js';
import { poolGradWasm } from './pooling.js';
import { meanGradConfig, sumGradConfig } from './reduceGrad.js';
import { batchNormMovingAverageWasm, batchNormTrainingGradWasm, batchNormTrainingWasm, sumOfSquaresWasm } from './fusedTraining.js';
import { BN_MOVING_AVERAGE_KERNEL, BN_TRAINING_GRAD_KERNEL, BN_TRAINING_KERNEL, batchNormTrainingGradConfig, installFusedBatchNormLayers } from '../backends/native/batchNormTraining.js';
import { installSharedSaves, uninstallSharedSaves } from '../backends/native/sharedSaves.js';
import { SUM_OF_SQUARES_KERNEL, sumOfSquaresGradConfig } from '../backends/native/sumOfSquares.js';
import { SOFTMAX_CROSS_ENTROPY_KERNEL, softmaxCrossEntropyGradConfig } from '../backends/native/crossEntropy.js';
import { softmaxCrossEntropyWasm } from './crossEntropy.js';
import { RELU_GRAD_KERNEL, installReluGrad } from '../backends/native/reluGrad.js';
import { reluGradWasm } from './reluGrad.js';
import { HEM_UNROLL_GRAD_KERNEL, HEM_UNROLL_KERNEL, hemUnrollGradConfig } from '../backends/native/hemUnroll.js';
import { hemUnrollGradWasm, hemUnrollWasm } from './hemUnroll.js';
import { installDilatedConvLayers } from './layersDilatedConv.js';
import { WINOGRAD_CONV_KERNEL, winogradConvWasm } from './winogradConv.js';
import { winogradForwardWasm } from './winogradTraining.js';

export { conv2dInputGradByConv, conv2dFilterGradByConv } from './conv2dGrad.js';

/** Kernels hemnet registers on wasm. */
export const WASM_KERNEL_NAMES = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'Identity',
  'HemnetBatchNormSums',
  'HemnetBroadcastTo',
  'BatchMatMul',
  'HemnetBatchNormTraining',
  'HemnetBatchNormTrainingGrad',
  'HemnetBatchNormMovingAverage',
  'HemnetSumOfSquares',
  'HemnetWinogradConv2D',
  'Conv2D',
  'FusedConv2D',
  'MaxPoolGrad',
  'AvgPoolGrad',
  'HemnetSoftmaxCrossEntropy',
  'HemnetReluGrad',
  'HemnetHemUnroll',
  'HemnetHemUnrollGrad',
] as const;

/** The fused training kernels of `fusedTraining.ts`, by name. */
const FUSED_TRAINING: ReadonlyMap<string, tf.KernelFunc> = new Map<string, tf.KernelFunc>([
  [BN_TRAINING_KERNEL, batchNormTrainingWasm as unknown as tf.KernelFunc],
  [BN_TRAINING_GRAD_KERNEL, batchNormTrainingGradWasm as unknown as tf.KernelFunc],
  [BN_MOVING_AVERAGE_KERNEL, batchNormMovingAverageWasm as unknown as tf.KernelFunc],
  [SUM_OF_SQUARES_KERNEL, sumOfSquaresWasm as unknown as tf.KernelFunc],
  [SOFTMAX_CROSS_ENTROPY_KERNEL, softmaxCrossEntropyWasm as unknown as tf.KernelFunc],
  [RELU_GRAD_KERNEL, reluGradWasm as unknown as tf.KernelFunc],
  [HEM_UNROLL_KERNEL, hemUnrollWasm as unknown as tf.KernelFunc],
  [HEM_UNROLL_GRAD_KERNEL, hemUnrollGradWasm as unknown as tf.KernelFunc],
]);

let globalInstalled = false;
/** Stock wasm kernel configs we replaced, to restore them in `uninstallKernels`. */
const replacedStock = new Map<string, tf.KernelConfig>();
const installedBackends = new Set<string>();

function installGlobal(): void {
  if (globalInstalled) return;
  if (tf.getGradient('Conv2D') !== undefined) tf.unregisterGradient('Conv2D');
  tf.registerGradient(conv2dGradConfig);
  const stockBatchNorm = tf.getGradient('FusedBatchNorm');
  if (stockBatchNorm !== undefined) tf.unregisterGradient('FusedBatchNorm');
  tf.registerGradient(batchNormGradConfig(stockBatchNorm));
  for (const config of [meanGradConfig, sumGradConfig]) {
    if (tf.getGradient(config.kernelName) !== undefined) tf.unregisterGradient(config.kernelName);
    tf.registerGradient(config);
  }
  installDilatedConvLayers();
  for (const config of [batchNormTrainingGradConfig, sumOfSquaresGradConfig, softmaxCrossEntropyGradConfig, hemUnrollGradConfig]) {
    if (tf.getGradient(config.kernelName) === undefined) tf.registerGradient(config);
  }
  installFusedBatchNormLayers();
  installReluGrad();
  globalInstalled = true;
}

function ours(kernelName: (typeof WASM_KERNEL_NAMES)[number], stock: tf.KernelConfig | undefined): tf.KernelFunc {
  if (kernelName === 'Identity') return identityWasm(stock?.kernelFunc);
  if (kernelName === BATCH_NORM_SUMS) return batchNormSumsWasm as unknown as tf.KernelFunc;
  if (kernelName === BROADCAST_TO) return broadcastToWasm as unknown as tf.KernelFunc;
  if (kernelName === WINOGRAD_CONV_KERNEL) return winogradConvWasm as unknown as tf.KernelFunc;
  const fused = FUSED_TRAINING.get(kernelName);
  if (fused !== undefined) return fused;
  if (kernelName === 'MaxPoolGrad' || kernelName === 'AvgPoolGrad') return poolGradWasm(kernelName, stock?.kernelFunc);
  if (kernelName === 'Conv2D' || kernelName === 'FusedConv2D') {
    if (stock === undefined) throw new Error(`hemnet kernels: the wasm backend has no ${kernelName} kernel to wrap`);
    return winogradForwardWasm(kernelName, stock.kernelFunc);
  }
  if (kernelName === 'BatchMatMul') {
    if (stock === undefined) throw new Error('hemnet kernels: the wasm backend has no BatchMatMul kernel to wrap');
    return batchMatMulWasm(stock.kernelFunc);
  }
  return kernelName === 'Conv2DBackpropFilter' ? conv2dBackpropFilterWasm : conv2dBackpropInputWasm;
}

/**
 * Installs hemnet's gradients (every backend) and kernels (`wasm`).
 * Idempotent; `setBackend` calls it each time it activates a backend.
 */
export function installKernels(backendName: string): void {
  installGlobal();
  if (backendName !== 'wasm' || installedBackends.has(backendName)) return;
  for (const kernelName of WASM_KERNEL_NAMES) {
    const stock = tf.getKernel(kernelName, backendName);
    if (stock !== undefined) {
      replacedStock.set(kernelName, stock);
      tf.unregisterKernel(kernelName, backendName);
    }
    tf.registerKernel({ kernelName, backendName, kernelFunc: ours(kernelName, stock) });
  }
  markDilationAware(backendName, true);
  installSharedSaves(backendName);
  installedBackends.add(backendName);
}

/**
 * Puts the stock wasm kernels back (for benchmarks and comparisons); the
 * global `Conv2D` gradient stays. `installKernels` re-installs.
 */
export function uninstallKernels(backendName: string): void {
  if (!installedBackends.has(backendName)) return;
  for (const kernelName of WASM_KERNEL_NAMES) {
    tf.unregisterKernel(kernelName, backendName);
    const stock = replacedStock.get(kernelName);
    if (stock !== undefined) tf.registerKernel(stock);
  }
  markDilationAware(backendName, false);
  uninstallSharedSaves(backendName);
  installedBackends.delete(backendName);
}

/** True when hemnet's wasm kernels are registered for `backendName`. */
export function kernelsInstalled(backendName: string): boolean {
  return installedBackends.has(backendName);
}
