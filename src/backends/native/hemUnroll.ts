/**
 * The unrolled highway EM of `unrollHem` (T × (E-step Eq. 7/8, N-step
 * Eq. 13, optional L2 normalisation of μ), then the R-step Eq. 10) as one
 * forward kernel and one gradient kernel, for backends that have them
 * (`native`: native/src/hem.cc; `wasm`: src/kernels/hemUnroll.ts, on the
 * heap with WebAssembly SIMD products and row passes). tfjs runs the same computation as ~11
 * kernels per iteration forward and ~3× that backward; at the default
 * model's head size (N = 64, C = 64, K = 16) their dispatch is the cost.
 * `unrollHem` takes this path when the backend has the kernel and the call
 * needs nothing per iteration (no trace, no per-path feature copies of
 * `gradientFlow`, no stopped γ gradient, not detached); otherwise, and on
 * every other backend, it runs the tfjs composition of src/em/steps.ts.
 */
import * as tf from '@tensorflow/tfjs';

/** Inputs x `[B, N, C]`, mu0 `[K, C]` or `[B, K, C]`; attrs below; outputs [mu, gamma, reconstruction, workspace]. */
export const HEM_UNROLL_KERNEL = 'HemnetHemUnroll';
/** Inputs x, mu0, workspace (and dMu, dGamma, dReconstruction where gradients reach them); outputs [dx, dMu0]. */
export const HEM_UNROLL_GRAD_KERNEL = 'HemnetHemUnrollGrad';

/**
 * Floats of the kernels' workspace per batch item: μ⁽⁰⁾..μ⁽ᵀ⁾ [(T+1), K, C],
 * γ⁽¹⁾..γ⁽ᵀ⁾ [T, N, K] and, with normalisation, the unnormalised N-step
 * results u⁽¹⁾..u⁽ᵀ⁾ [T, K, C] (both backends lay it out this way).
 */
export function hemWorkspaceFloats(iterations: number, pixels: number, channels: number, bases: number, normalizeBases: boolean): number {
  return (iterations + 1) * bases * channels + iterations * pixels * bases + (normalizeBases ? iterations * bases * channels : 0);
}

/** The attrs of both kernels. */
export interface FusedHemSettings {
  /** η of Eq. 13. */
  stepSize: number;
  /** T. */
  iterations: number;
  /** σ² of Eq. 7/8. */
  temperature: number;
  kernel: 'dot' | 'rbf';
  normalizeBases: boolean;
}

export interface FusedHemResult {
  mu: tf.Tensor3D;
  gamma: tf.Tensor3D;
  reconstruction: tf.Tensor3D;
}

let fusedEnabled = true;
/** Turns the fused path off (`unrollHem` composes tfjs ops on every backend) or back on, e.g. to compare the two in one process. */
export function setFusedHem(enabled: boolean): void {
  fusedEnabled = enabled;
}

/** True when `fusedUnroll` can run x and mu0 on the current backend. */
export function fusedHemAvailable(x: tf.Tensor, mu0: tf.Tensor): boolean {
  return fusedEnabled && x.dtype === 'float32' && mu0.dtype === 'float32' && x.size > 0 && mu0.size > 0 && tf.getKernel(HEM_UNROLL_KERNEL, tf.getBackend()) !== undefined;
}

/**
 * μ⁽ᵀ⁾, γ⁽ᵀ⁾ and X̃ = γ⁽ᵀ⁾·μ⁽ᵀ⁾ of T highway-EM iterations from μ⁽⁰⁾, with
 * gradients to x and μ⁽⁰⁾ through all three (one kernel each way). Inputs
 * unvalidated (unrollHem validates them). Call only when `fusedHemAvailable`.
 */
export function fusedUnroll(x: tf.Tensor3D, mu0: tf.Tensor2D | tf.Tensor3D, settings: FusedHemSettings): FusedHemResult {
  const attrs = {
    stepSize: settings.stepSize,
    iterations: settings.iterations,
    temperature: settings.temperature,
    kernel: settings.kernel,
    normalizeBases: settings.normalizeBases,
  } as unknown as tf.NamedAttrMap;
  const [mu, gamma, reconstruction, workspace] = tf.engine().runKernel(HEM_UNROLL_KERNEL, { x, mu0 }, attrs) as tf.Tensor[];
  // The tape keeps its own reference to the workspace for the gradient.
  workspace?.dispose();
  return { mu: mu as tf.Tensor3D, gamma: gamma as tf.Tensor3D, reconstruction: reconstruction as tf.Tensor3D };
}

/** The gradient of `HEM_UNROLL_KERNEL` (one `HEM_UNROLL_GRAD_KERNEL` call). */
export const hemUnrollGradConfig: tf.GradConfig = {
  kernelName: HEM_UNROLL_KERNEL,
  inputsToSave: ['x', 'mu0'],
  outputsToSave: [false, false, false, true],
  gradFunc: (dys, saved, attrs) => {
    const [dMu, dGamma, dReconstruction] = (Array.isArray(dys) ? dys : [dys]) as (tf.Tensor | null | undefined)[];
    const [x, mu0, workspace] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
    const inputs: tf.NamedTensorMap = { x, mu0, workspace };
    if (dMu != null) inputs['dMu'] = dMu;
    if (dGamma != null) inputs['dGamma'] = dGamma;
    if (dReconstruction != null) inputs['dReconstruction'] = dReconstruction;
    const [dx, dMu0] = tf.engine().runKernel(HEM_UNROLL_GRAD_KERNEL, inputs, attrs) as tf.Tensor[];
    return { x: () => dx as tf.Tensor, mu0: () => dMu0 as tf.Tensor };
  },
};
