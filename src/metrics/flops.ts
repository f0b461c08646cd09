/**
 * FLOPs counted from the graph a computation actually runs: `tf.profile`
 * records every kernel with its input and output shapes, and each kernel's
 * cost follows from those shapes (a multiply-add counts as 2 FLOPs, the
 * convention of the paper's Table 3 and of most FLOP counters):
 *
 * - Conv2D / FusedConv2D, filter [kh, kw, Cin, Cout]: 2·|out|·kh·kw·Cin
 *   (+ |out| per fused bias / activation);
 * - DepthwiseConv2dNative, filter [kh, kw, C, m]: 2·|out|·kh·kw;
 * - Conv2DBackpropInput / Conv2DBackpropFilter: 2·|dy|·kh·kw·Cin (the same
 *   products as the forward conv);
 * - MatMul / BatchMatMul / _FusedMatMul, a [.., M, K] (or transposed) and
 *   out [.., M, N]: 2·|out|·K with K = |a|·N / |out|, whatever the transposes;
 * - data movement (reshape, transpose, slice, concat, pad, gather, cast,
 *   identity, fill): 0;
 * - everything else (elementwise, reductions, softmax, resize, pooling,
 *   batch norm): 1 FLOP per element of its largest input or output.
 *
 * Only registered kernels count (wrappers of ops with a custom gradient are
 * recorded too, and would count twice). Platform-neutral; runs the
 * computation once, inside a tidy.
 */
import * as tf from '@tensorflow/tfjs';

export interface KernelFlops {
  kernel: string;
  calls: number;
  flops: number;
}

export interface FlopCount {
  /** Total FLOPs of the computation. */
  total: number;
  /** Per kernel name, most FLOPs first. */
  byKernel: KernelFlops[];
}

const DATA_MOVEMENT = new Set([
  'Reshape', 'Identity', 'Cast', 'Transpose', 'Slice', 'StridedSlice', 'Concat', 'Pack', 'Unpack', 'Pad', 'PadV2', 'MirrorPad',
  'GatherV2', 'GatherNd', 'Fill', 'ZerosLike', 'OnesLike', 'Tile', 'Reverse', 'ExpandDims', 'Squeeze', 'BroadcastTo', 'SplitV', 'Range',
]);

const size = (shape: readonly number[] | null | undefined): number => (shape == null ? 0 : shape.reduce((a, b) => a * b, 1));

/** FLOPs of one kernel call from its shapes (see the module comment). */
export function kernelFlops(kernel: string, inputShapes: readonly (readonly number[] | null)[], outputShapes: readonly (readonly number[] | null)[]): number {
  const out = size(outputShapes[0]);
  switch (kernel) {
    case 'Conv2D':
    case 'FusedConv2D': {
      const [kh = 0, kw = 0, cin = 0] = inputShapes[1] ?? [];
      const fused = kernel === 'FusedConv2D' ? out * inputShapes.slice(2).filter((shape) => shape != null).length : 0;
      return 2 * out * kh * kw * cin + fused;
    }
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2D': {
      const [kh = 0, kw = 0] = inputShapes[1] ?? [];
      return 2 * out * kh * kw;
    }
    case 'Conv2DBackpropInput': {
      // inputs: dy [B, H', W', Cout], filter [kh, kw, Cin, Cout]; output dx.
      const [kh = 0, kw = 0, cin = 0] = inputShapes[1] ?? [];
      return 2 * size(inputShapes[0]) * kh * kw * cin;
    }
    case 'Conv2DBackpropFilter': {
      // inputs: x [B, H, W, Cin], dy [B, H', W', Cout]; output dW [kh, kw, Cin, Cout].
      const [kh = 0, kw = 0, cin = 0] = outputShapes[0] ?? [];
      return 2 * size(inputShapes[1]) * kh * kw * cin;
    }
    case 'MatMul':
    case 'BatchMatMul':
    case '_FusedMatMul': {
      const outShape = outputShapes[0] ?? [];
      const n = outShape[outShape.length - 1] ?? 0;
      if (out === 0) return 0;
      const inner = (size(inputShapes[0]) * n) / out;
      return 2 * out * inner + (kernel === '_FusedMatMul' ? out * inputShapes.slice(2).filter((shape) => shape != null).length : 0);
    }
    default:
      if (DATA_MOVEMENT.has(kernel)) return 0;
      return Math.max(out, ...inputShapes.map(size), ...outputShapes.slice(1).map(size));
  }
}

/** Runs `computation` once under `tf.profile` and counts the FLOPs of every kernel it ran. */
export async function countFlops(computation: () => tf.TensorContainer | void): Promise<FlopCount> {
  const info = await tf.profile(() =>
    tf.tidy(() => {
      const result = computation();
      return result === undefined ? [] : result;
    }),
  );
  const backend = tf.getBackend();
  const totals = new Map<string, KernelFlops>();
  let total = 0;
  for (const k of info.kernels) {
    // Ops with a custom gradient are recorded once more as a wrapper ('fusedMatMul__op'):
    // only registered kernels do arithmetic.
    if (tf.getKernel(k.name, backend) === undefined) continue;
    const flops = kernelFlops(k.name, k.inputShapes as (number[] | null)[], k.outputShapes as (number[] | null)[]);
    const entry = totals.get(k.name) ?? { kernel: k.name, calls: 0, flops: 0 };
    entry.calls += 1;
    entry.flops += flops;
    totals.set(k.name, entry);
    total += flops;
  }
  tf.dispose(info.result);
  return { total, byKernel: [...totals.values()].sort((a, b) => b.flops - a.flops) };
}

/** FLOPs of one forward pass of a model on a zero input of `inputShape` (e.g. [1, 64, 64, 3]). */
export async function modelForwardFlops(model: tf.LayersModel, inputShape: readonly number[]): Promise<FlopCount> {
  const input = tf.zeros(inputShape as number[]);
  try {
    return await countFlops(() => model.predict(input) as tf.Tensor);
  } finally {
    input.dispose();
  }
}
