/**
 * `Identity` on wasm without a copy. The tfjs engine clones (Identity) every
 * tensor a gradient saves for the backward pass — ≈ 570 clones, 13.6 M
 * floats, per training step of the default model — and the stock wasm
 * kernel copies the data each time. Tensor data is never written in place on
 * wasm (the backend's own `Reshape` shares data the same way, and hemnet's
 * kernels write only their fresh outputs), so the clone can share the data
 * id with a reference count, as the `cpu` backend's Identity does.
 */
import type * as tf from '@tensorflow/tfjs';

interface RefCountingBackend {
  incRef(dataId: tf.DataId): void;
}

/** The kernel function registered for `Identity` on wasm; `stock` serves string tensors. */
export function identityWasm(stock: tf.KernelFunc | undefined): tf.KernelFunc {
  return (args) => {
    const x = (args.inputs as { x?: tf.TensorInfo }).x;
    if (x === undefined) throw new Error("Identity: input 'x' is required");
    const backend = args.backend as Partial<RefCountingBackend>;
    if (x.dtype === 'string' || typeof backend.incRef !== 'function') {
      if (stock === undefined) throw new Error(`Identity: no stock kernel for a ${x.dtype} tensor on this backend`);
      return stock(args);
    }
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}
