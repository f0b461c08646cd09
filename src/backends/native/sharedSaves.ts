/**
 * Saved-for-gradient tensors without a kernel call, on the `native` and
 * `wasm` backends.
 *
 * Whenever a kernel with a registered gradient runs under a tape, tfjs-core's
 * engine keeps the inputs and outputs its gradient needs by cloning each one
 * (`Engine.saveTensorsForBackwardMode` and a `customGrad`'s save function,
 * both → `Engine.clone`, which nothing else calls): one `Identity` kernel
 * dispatch plus one tape node per saved tensor (183 dispatches in a training
 * step of the default model, the largest kernel count of the step).
 * On the cpu and native backends, and on wasm with hemnet's kernels
 * (src/kernels/identity.ts), `Identity` copies nothing: it increments the
 * data's reference count and returns a tensor on the same data. The clone's
 * tape node is never on a gradient path (the clone is only read by gradient
 * functions, never by a recorded forward op), so backprop prunes it.
 *
 * `installSharedSaves` replaces `Engine.clone`, while the active backend is
 * one it was installed for, by exactly that: increment the reference count, make a
 * tensor on the same data in the current scope (the callers keep it). Everything else (other
 * backends, non-numeric dtypes, the switch turned off) calls tfjs's method.
 * Nothing in node_modules is edited: the override is installed on the engine
 * object at run time.
 */
import * as tf from '@tensorflow/tfjs';

/** The parts of tfjs-core's Engine the override uses (tfjs 4.22). */
interface EngineInternals {
  backendName: string | null;
  backend: tf.KernelBackend;
  clone(x: tf.Tensor): tf.Tensor;
  makeTensorFromTensorInfo(info: tf.TensorInfo, backend?: tf.KernelBackend): tf.Tensor;
}

const MARK = Symbol.for('hemnet.sharedSaves');
const SHARED_DTYPES: ReadonlySet<string> = new Set(['float32', 'int32', 'bool']);

// On the engine object, with the override: one switch even if this module were loaded twice.
const ENABLED = Symbol.for('hemnet.sharedSaves.enabled');
/** Turns the kernel-free saves off (tfjs's clones everywhere) or back on, e.g. to compare the two in one process. */
export function setSharedSaves(on: boolean): void {
  (tf.engine() as unknown as Record<PropertyKey, unknown>)[ENABLED] = on;
}

// On the engine object: the backends the override serves (one set even if this module were loaded twice).
const BACKENDS = Symbol.for('hemnet.sharedSaves.backends');

function servedBackends(engine: Record<PropertyKey, unknown>): Set<string> {
  const existing = engine[BACKENDS];
  if (existing instanceof Set) return existing as Set<string>;
  const created = new Set<string>();
  engine[BACKENDS] = created;
  return created;
}

/** Installs the override on tfjs's engine for `backendName` (idempotent; the override is installed once for all backends). */
export function installSharedSaves(backendName: string): void {
  const engine = tf.engine() as unknown as EngineInternals & Record<PropertyKey, unknown>;
  const served = servedBackends(engine);
  served.add(backendName);
  if (engine[MARK] === true) return;
  const original = engine.clone;
  if (typeof original !== 'function' || typeof engine.makeTensorFromTensorInfo !== 'function') {
    served.delete(backendName);
    throw new Error('installSharedSaves: tfjs-core Engine lacks clone / makeTensorFromTensorInfo; the tfjs version is not supported');
  }
  engine.clone = function (this: EngineInternals, x: tf.Tensor): tf.Tensor {
    if ((this as unknown as Record<PropertyKey, unknown>)[ENABLED] === false || this.backendName === null || !served.has(this.backendName) || !SHARED_DTYPES.has(x.dtype)) return original.call(this, x);
    // What the cpu backend's Identity kernel does, without the dispatch and the (pruned) tape node.
    (this.backend as tf.KernelBackend & { incRef(dataId: object): void }).incRef(x.dataId);
    return this.makeTensorFromTensorInfo({ dataId: x.dataId, shape: x.shape, dtype: x.dtype });
  };
  engine[MARK] = true;
}

/** Stops the override for `backendName` (tfjs's clones there again); `installSharedSaves` turns it back on. */
export function uninstallSharedSaves(backendName: string): void {
  servedBackends(tf.engine() as unknown as Record<PropertyKey, unknown>).delete(backendName);
}
