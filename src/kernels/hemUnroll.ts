/**
 * The unrolled highway EM of `unrollHem` as one kernel forward and one
 * backward on `wasm`: `HemnetHemUnroll` and `HemnetHemUnrollGrad`, whose
 * names, attrs, workspace layout and tfjs gradient are the native backend's
 * (src/backends/native/hemUnroll.ts; the arithmetic is native/src/hem.cc's,
 * step by step). tfjs's composition of src/em/steps.ts dispatches ≈ 11
 * kernels per iteration forward and ≈ 3× that backward; at the default
 * model's head size (B = 8, N = 64, C = 64, K = 16, T = 3) their dispatch,
 * not their arithmetic, is what the head costs.
 *
 * Per batch item, on the heap: the products in the WebAssembly SIMD block
 * kernels (batchMatMulSimd.ts, where the output has a multiple of 4
 * columns; else a float32 loop in JS); the row passes (the softmax's
 * scaling, the N-step normalisation, the highway mix and their gradients)
 * in WebAssembly SIMD (hemSimd.ts) where K is a multiple of 4, else in JS
 * with the native kernel's float64 sums; the exponentials in SIMD
 * (expSimd.ts). The rbf kernel's and the basis normalisation's passes stay
 * in JS (neither is in the default head). A transposed operand of a product is either read through strides
 * (small) or transposed on the heap first (large, as BatchMatMul does).
 *
 * Workspace per item: μ⁽⁰⁾..μ⁽ᵀ⁾ [(T+1), K, C], γ⁽¹⁾..γ⁽ᵀ⁾ [T, N, K] and,
 * with normalisation, the unnormalised N-step results u⁽¹⁾..u⁽ᵀ⁾ [T, K, C];
 * the forward pass writes it, the backward pass reads it.
 */
import type * as tf from '@tensorflow/tfjs';
import { HEM_UNROLL_GRAD_KERNEL, HEM_UNROLL_KERNEL, hemWorkspaceFloats } from '../backends/native/hemUnroll.js';
import { NK_EPSILON, NORM_EPSILON } from '../em/steps.js';
import { gemmOnMemory, simdGemm, type SimdGemm } from './batchMatMulSimd.js';
import { wasmFlushBelow } from './denormals.js';
import { simdExp, type SimdExp } from './expSimd.js';
import { simdHemRows, type SimdHemRows } from './hemSimd.js';
import { memoryOf } from './wasmAssembly.js';
import { asWasmBackend, heapF32, offsetF32, transposeOnHeap, type WasmBackendLike } from './wasmHeap.js';

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

const f32 = Math.fround;

/** A transposed operand larger than this many floats is transposed on the heap before its product (as BatchMatMul's `TRANSPOSED_A_MAX_FLOATS`). */
const STRIDED_OPERAND_MAX_FLOATS = 1 << 16;

interface HemShape {
  B: number;
  N: number;
  C: number;
  K: number;
  T: number;
  rbf: boolean;
  normalize: boolean;
  batchedMu0: boolean;
  stepSize: number;
  temperature: number;
  /** Workspace floats per batch item. */
  workspace: number;
}

function hemShape(x: tf.TensorInfo | undefined, mu0: tf.TensorInfo | undefined, attrs: tf.NamedAttrMap | undefined, kernel: string): HemShape {
  if (x === undefined || mu0 === undefined || x.dtype !== 'float32' || mu0.dtype !== 'float32') throw new Error(`wasm ${kernel}: float32 inputs 'x' and 'mu0' are required`);
  if (x.shape.length !== 3 || (mu0.shape.length !== 2 && mu0.shape.length !== 3)) throw new Error(`wasm ${kernel}: x must be [B, N, C] and mu0 [K, C] or [B, K, C], received [${x.shape.join(', ')}] and [${mu0.shape.join(', ')}]`);
  const [B, N, C] = x.shape as [number, number, number];
  const K = mu0.shape[mu0.shape.length - 2] as number;
  const T = Number(attrs?.['iterations']);
  const normalize = attrs?.['normalizeBases'] === true;
  const batchedMu0 = mu0.shape.length === 3;
  if (mu0.shape[mu0.shape.length - 1] !== C || (batchedMu0 && mu0.shape[0] !== B)) throw new Error(`wasm ${kernel}: mu0 [${mu0.shape.join(', ')}] does not match x [${x.shape.join(', ')}]`);
  if (!(B > 0 && N > 0 && C > 0 && K > 0 && Number.isInteger(T) && T > 0)) throw new Error(`wasm ${kernel}: empty shape or iterations ${T}`);
  return {
    B, N, C, K, T, normalize, batchedMu0,
    rbf: attrs?.['kernel'] === 'rbf',
    stepSize: Number(attrs?.['stepSize']),
    temperature: Number(attrs?.['temperature']),
    workspace: hemWorkspaceFloats(T, N, C, K, normalize),
  };
}

/** Rounds a float count up to a multiple of 4 (16-byte starts for the scratch buffers). */
const padded = (floats: number): number => Math.ceil(floats / 4) * 4;

/** Products on the heap, float indices throughout. */
class HeapProducts {
  constructor(readonly heap: Float32Array, private readonly simd: SimdGemm | null, private readonly transposeScratch: number) {}

  /**
   * C[m, n] = A·B (C += A·B when `accumulate`): A[r, q] at a + r·aRow + q·aK,
   * B [k, n] row-major at b, C [m, n] row-major at c. Sums over q in order
   * in float32, as the SIMD block kernels.
   */
  product(a: number, aRow: number, aK: number, b: number, c: number, m: number, k: number, n: number, accumulate: boolean): void {
    if (this.simd !== null && n % 4 === 0) {
      gemmOnMemory(this.simd, 4 * a, 4 * aRow, 4 * aK, 4 * b, 4 * c, m, k, n, accumulate);
      return;
    }
    const h = this.heap;
    for (let r = 0; r < m; r++) {
      const aBase = a + r * aRow;
      const cBase = c + r * n;
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let q = 0; q < k; q++) sum = f32(sum + f32((h[aBase + q * aK] as number) * (h[b + q * n + j] as number)));
        h[cBase + j] = accumulate ? f32((h[cBase + j] as number) + sum) : sum;
      }
    }
  }

  /** C[m, n] = Aᵀ·B (or +=) for A [k, m] row-major at a: strided when A is small, else transposed first. */
  productTransposedA(a: number, b: number, c: number, m: number, k: number, n: number, accumulate: boolean): void {
    if (m * k <= STRIDED_OPERAND_MAX_FLOATS) {
      this.product(a, 1, m, b, c, m, k, n, accumulate);
      return;
    }
    transposeOnHeap(this.heap, a, k, m, this.transposeScratch);
    this.product(this.transposeScratch, k, 1, b, c, m, k, n, accumulate);
  }
}

interface Scratch {
  info: tf.TensorInfo;
  /** Float index of its first element. */
  start: number;
}

/** One heap buffer for all of a kernel's scratch (allocated before any heap view is taken). */
function allocateScratch(backend: WasmBackendLike, floats: number): Scratch {
  const info = backend.makeOutput([Math.max(floats, 1)], 'float32');
  return { info, start: offsetF32(backend, info) };
}

/**
 * The row passes over γ-shaped [N, K] and μ-shaped [K, C] buffers, in
 * WebAssembly SIMD (hemSimd.ts) where the rows (K) or the buffers are a
 * multiple of 4 floats, else in JS on the heap (the native kernel's
 * arithmetic, sums in float64). Float indices throughout.
 */
class RowPasses {
  private readonly rowsSimd: boolean;
  /** Heap scratch of one row of K: the N-step denominators D_k, and column sums. */
  readonly denominators: Float32Array;
  private readonly sums: Float64Array;

  constructor(
    private readonly h: Float32Array,
    private readonly simd: SimdHemRows | null,
    private readonly K: number,
    private readonly denominatorsAt: number,
    private readonly columnSumsAt: number,
  ) {
    this.rowsSimd = simd !== null && K % 4 === 0;
    this.denominators = h.subarray(denominatorsAt, denominatorsAt + K);
    this.sums = new Float64Array(K);
  }

  /** x ← x / d over `size` floats. */
  divide(x: number, size: number, d: number): void {
    if (this.simd !== null && size % 4 === 0) {
      this.simd.divide(4 * x, 4 * (x + size), d);
      return;
    }
    const v = this.h.subarray(x, x + size);
    for (let i = 0; i < size; i++) v[i] = f32((v[i] as number) / d);
  }

  /** out ← a·α + b·β over `size` floats (out may be a or b). */
  mix(a: number, b: number, out: number, size: number, alpha: number, beta: number): void {
    if (this.simd !== null && size % 4 === 0) {
      this.simd.mix(4 * a, 4 * b, 4 * out, 4 * (a + size), alpha, beta);
      return;
    }
    const [A, B, O] = [this.h.subarray(a, a + size), this.h.subarray(b, b + size), this.h.subarray(out, out + size)];
    for (let i = 0; i < size; i++) O[i] = f32(f32((A[i] as number) * alpha) + f32((B[i] as number) * beta));
  }

  /** out ← x·f over `size` floats (out may be x). */
  scale(x: number, out: number, size: number, factor: number): void {
    if (this.simd !== null && size % 4 === 0) {
      this.simd.scaleInto(4 * x, 4 * out, 4 * (x + size), factor);
      return;
    }
    const [X, O] = [this.h.subarray(x, x + size), this.h.subarray(out, out + size)];
    for (let i = 0; i < size; i++) O[i] = f32((X[i] as number) * factor);
  }

  /** γ̄ = γ / D, D_k = Σ_n γ_nk + ε (the N-step normalisation of Eq. 9), for γ [N, K] at `gamma`; D in `denominators`. */
  normalize(gamma: number, gbar: number, N: number): void {
    const { h, K } = this;
    const size = N * K;
    const D = this.denominators;
    if (this.rowsSimd && this.simd !== null) {
      this.simd.columnSums(4 * gamma, 4 * (gamma + size), 4 * K, 4 * this.denominatorsAt);
      for (let k = 0; k < K; k++) D[k] = f32((D[k] as number) + NK_EPSILON);
      this.simd.divideColumns(4 * gamma, 4 * gbar, 4 * (gamma + size), 4 * K, 4 * this.denominatorsAt);
      return;
    }
    const G = h.subarray(gamma, gamma + size);
    const Gbar = h.subarray(gbar, gbar + size);
    const sums = this.sums.fill(0);
    for (let row = 0; row < size; row += K) {
      for (let k = 0; k < K; k++) sums[k] = (sums[k] as number) + (G[row + k] as number);
    }
    for (let k = 0; k < K; k++) D[k] = f32(f32(sums[k] as number) + NK_EPSILON);
    for (let row = 0; row < size; row += K) {
      for (let k = 0; k < K; k++) Gbar[row + k] = f32((G[row + k] as number) / (D[k] as number));
    }
  }

  /**
   * Back through γ̄ = γ / D and the softmax, in place in dγ (N rows of K;
   * D from the last `normalize` of this γ):
   * dγ_nk += (dγ̄_nk − Σ_m dγ̄_mk·γ̄_mk)/D_k, then dA = γ ⊙ (dγ − Σ_k dγ⊙γ) / σ².
   */
  responsibilityGradient(dGamma: number, dGbar: number, gbar: number, gamma: number, N: number, temperature: number): void {
    const { h, K } = this;
    const size = N * K;
    if (this.rowsSimd && this.simd !== null) {
      this.simd.columnDots(4 * dGbar, 4 * gbar, 4 * (dGbar + size), 4 * K, 4 * this.columnSumsAt);
      this.simd.responsibilityRows(4 * dGamma, 4 * dGbar, 4 * gamma, 4 * (dGamma + size), 4 * K, 4 * this.columnSumsAt, 4 * this.denominatorsAt, temperature);
      return;
    }
    const [dG, dGb, Gb, G] = [dGamma, dGbar, gbar, gamma].map((at) => h.subarray(at, at + size)) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const D = this.denominators;
    const sums = this.sums.fill(0);
    for (let row = 0; row < size; row += K) {
      for (let k = 0; k < K; k++) sums[k] = (sums[k] as number) + (dGb[row + k] as number) * (Gb[row + k] as number);
    }
    for (let row = 0; row < size; row += K) {
      let dot = 0;
      for (let k = 0; k < K; k++) {
        const d = f32((dG[row + k] as number) + f32(f32((dGb[row + k] as number) - f32(sums[k] as number)) / (D[k] as number)));
        dG[row + k] = d;
        dot += d * (G[row + k] as number);
      }
      const weighted = f32(dot);
      for (let k = 0; k < K; k++) dG[row + k] = f32(f32((G[row + k] as number) * f32((dG[row + k] as number) - weighted)) / temperature);
    }
  }
}

/** Σ_c μ_kc² per basis, for the K rows of C at `mu` (the rbf logits' ‖μ_k‖²). */
function squaredNorms(h: Float32Array, s: HemShape, mu: number, out: Float32Array): void {
  const { K, C } = s;
  for (let k = 0; k < K; k++) {
    let sum = 0;
    for (let c = 0; c < C; c++) {
      const v = h[mu + k * C + c] as number;
      sum += f32(v * v);
    }
    out[k] = f32(sum);
  }
}

/** ‖u_k‖ over C (tf.norm: the square root of the float sum of squares). */
function rowNorms(h: Float32Array, s: HemShape, u: number, norms: Float32Array): void {
  squaredNorms(h, s, u, norms);
  for (let k = 0; k < s.K; k++) norms[k] = f32(Math.sqrt(norms[k] as number));
}

/**
 * γ = softmax over each row of K of logits / σ², in place at `g` (N rows):
 * divided by σ² (`passes`), the row's maximum subtracted, the exponentials in WebAssembly SIMD
 * (expSimd.ts, as the segmentation loss; Math.exp where SIMD is missing),
 * the sum in float64, the row times the float32 1/sum, subnormal results
 * stored as 0 (denormals.ts). `sums` (8-byte aligned, N float64) and
 * `scales` (N floats) are heap scratch.
 */
function softmaxRows(h: Float32Array, passes: RowPasses, g: number, N: number, K: number, temperature: number, exp: SimdExp | null, sums: number, scales: number): void {
  const size = N * K;
  const logits = h.subarray(g, g + size);
  passes.divide(g, size, temperature);
  const below = wasmFlushBelow();
  if (exp !== null && sums % 2 === 0) {
    exp.shiftRows(4 * g, 4 * g, 4 * (g + size), 4 * K);
    const whole = size - (size % 4);
    if (whole > 0) exp.exps(4 * g, 4 * (g + whole));
    for (let i = whole; i < size; i++) logits[i] = f32(Math.exp(logits[i] as number));
    exp.rowSums(4 * g, 4 * (g + size), 4 * K, 4 * sums);
    const rowSums = new Float64Array(h.buffer, h.byteOffset + 4 * sums, N);
    const factors = h.subarray(scales, scales + N);
    for (let n = 0; n < N; n++) factors[n] = f32(1 / (rowSums[n] as number));
    exp.scaleRows(4 * g, 4 * (g + size), 4 * K, 4 * scales, below);
    return;
  }
  for (let row = 0; row < size; row += K) {
    let max = -Infinity;
    for (let k = 0; k < K; k++) max = Math.max(max, logits[row + k] as number);
    let sum = 0;
    for (let k = 0; k < K; k++) {
      const e = f32(Math.exp(f32((logits[row + k] as number) - max)));
      logits[row + k] = e;
      sum += e;
    }
    const inv = f32(1 / sum);
    for (let k = 0; k < K; k++) {
      const value = f32((logits[row + k] as number) * inv);
      logits[row + k] = Math.abs(value) < below ? 0 : value;
    }
  }
}

/** Outputs [μ⁽ᵀ⁾ [B, K, C], γ⁽ᵀ⁾ [B, N, K], X̃ [B, N, C], workspace [B, W]]. */
export function hemUnrollWasm(args: KernelArgs): tf.TensorInfo[] {
  const backend = asWasmBackend(args.backend, HEM_UNROLL_KERNEL);
  const x = args.inputs['x'];
  const mu0 = args.inputs['mu0'];
  const s = hemShape(x, mu0, args.attrs, HEM_UNROLL_KERNEL);
  const { B, N, C, K, T } = s;
  const kc = K * C;
  const nk = N * K;
  const nc = N * C;
  const muOut = backend.makeOutput([B, K, C], 'float32');
  const gammaOut = backend.makeOutput([B, N, K], 'float32');
  const reconOut = backend.makeOutput([B, N, C], 'float32');
  const workspaceOut = backend.makeOutput([B, s.workspace], 'float32');
  // Scratch: μᵀ [C, K], γ̄ [N, K], F [K, C], a transposed operand [N·K], the softmax's row sums (float64) and factors, D [K].
  const scratch = allocateScratch(backend, 2 * padded(kc) + 2 * padded(nk) + padded(2 * N) + padded(N) + padded(K));
  const muT = scratch.start;
  const gbar = muT + padded(kc);
  const update = gbar + padded(nk);
  const transposed = update + padded(kc);
  const sums = transposed + padded(nk);
  const scales = sums + padded(2 * N);
  const denominators = scales + padded(N);
  // Every allocation is done: the heap view below stays valid.
  const h = heapF32(backend);
  const memory = memoryOf(backend);
  const products = new HeapProducts(h, simdGemm(memory), transposed);
  const passes = new RowPasses(h, simdHemRows(memory), K, denominators, denominators);
  const exp = simdExp(memory);
  const [X, M0, MU, G, R, W] = [x, mu0, muOut, gammaOut, reconOut, workspaceOut].map((t) => offsetF32(backend, t as tf.TensorInfo)) as [number, number, number, number, number, number];
  const keep = f32(1 - s.stepSize);
  const eta = f32(s.stepSize);
  const temperature = f32(s.temperature);
  const norms = new Float32Array(K);
  for (let b = 0; b < B; b++) {
    const xb = X + b * nc;
    const mus = W + b * s.workspace;
    const gammas = mus + (T + 1) * kc;
    const us = gammas + T * nk;
    h.copyWithin(mus, M0 + (s.batchedMu0 ? b * kc : 0), M0 + (s.batchedMu0 ? b * kc : 0) + kc);
    for (let t = 0; t < T; t++) {
      const mu = mus + t * kc;
      const g = gammas + t * nk;
      // E-step (Eq. 8): logits x·μᵀ; Eq. 7 (rbf): 2x·μᵀ − ‖μ_k‖² (‖x_n‖² cancels in the softmax).
      transposeOnHeap(h, mu, K, C, muT);
      products.product(xb, C, 1, muT, g, N, C, K, false);
      if (s.rbf) {
        squaredNorms(h, s, mu, norms);
        for (let i = 0; i < nk; i++) h[g + i] = f32(f32((h[g + i] as number) * 2) - (norms[i % K] as number));
      }
      // γ = softmax_k(logits / σ²).
      softmaxRows(h, passes, g, N, K, temperature, exp, sums, scales);
      // N-step (Eq. 9/13): F = γ̄ᵀ·x, μ⁽ᵗ⁾ = (1 − η)·μ⁽ᵗ⁻¹⁾ + η·F (η = 1: F).
      passes.normalize(g, gbar, N);
      const next = mus + (t + 1) * kc;
      const u = s.normalize ? us + t * kc : next;
      products.productTransposedA(gbar, xb, update, K, N, C, false);
      if (eta === 1) {
        h.copyWithin(u, update, update + kc);
      } else {
        passes.mix(mu, update, u, kc, keep, eta);
      }
      if (s.normalize) {
        // μ ← u / (‖u‖ + 1e-6) over C (EMANet's normalisation).
        rowNorms(h, s, u, norms);
        for (let i = 0; i < kc; i++) h[next + i] = f32((h[u + i] as number) / f32((norms[Math.floor(i / C)] as number) + NORM_EPSILON));
      }
    }
    // R-step (Eq. 10): X̃ = γ⁽ᵀ⁾·μ⁽ᵀ⁾.
    const muLast = mus + T * kc;
    const gLast = gammas + (T - 1) * nk;
    products.product(gLast, K, 1, muLast, R + b * nc, N, K, C, false);
    h.copyWithin(MU + b * kc, muLast, muLast + kc);
    h.copyWithin(G + b * nk, gLast, gLast + nk);
  }
  backend.disposeData(scratch.info.dataId);
  return [muOut, gammaOut, reconOut, workspaceOut];
}

/**
 * Outputs [dx [B, N, C], dμ⁽⁰⁾ (mu0's shape)]: reverse mode through the
 * forward pass, iteration T down to 1 (native/src/hem.cc derives each line).
 *   R-step: dγ⁽ᵀ⁾ += dX̃·μ⁽ᵀ⁾ᵀ, dμ⁽ᵀ⁾ += γ⁽ᵀ⁾ᵀ·dX̃.
 *   Normalisation μ = u/(r + ε), r = ‖u‖: du = dμ/(r + ε) − u·(dμ·u)/((r + ε)²·r).
 *   N-step: dF = η·du, dμ⁽ᵗ⁻¹⁾ = (1 − η)·du; F = γ̄ᵀx: dγ̄ = x·dFᵀ, dx += γ̄·dF;
 *     γ̄ = γ/D: dγ_nk += (dγ̄_nk − Σ_m dγ̄_mk·γ̄_mk)/D_k.
 *   E-step: dL = γ ⊙ (dγ − Σ_k dγ⊙γ), dA = dL/σ² (rbf: 2·dL/σ², dμ_k −= 2μ_k·Σ_n dL_nk/σ²);
 *     A = x·μᵀ: dx += dA·μ, dμ⁽ᵗ⁻¹⁾ += dAᵀ·x.
 */
export function hemUnrollGradWasm(args: KernelArgs): tf.TensorInfo[] {
  const backend = asWasmBackend(args.backend, HEM_UNROLL_GRAD_KERNEL);
  const { inputs } = args;
  const x = inputs['x'];
  const mu0 = inputs['mu0'];
  const workspace = inputs['workspace'];
  const s = hemShape(x, mu0, args.attrs, HEM_UNROLL_GRAD_KERNEL);
  const { B, N, C, K, T } = s;
  const kc = K * C;
  const nk = N * K;
  const nc = N * C;
  if (workspace === undefined || workspace.shape.reduce((a, b) => a * b, 1) !== B * s.workspace) throw new Error(`wasm ${HEM_UNROLL_GRAD_KERNEL}: the workspace does not match the shapes`);
  const optional = (name: string, size: number): tf.TensorInfo | undefined => {
    const t = inputs[name];
    if (t !== undefined && t.shape.reduce((a, b) => a * b, 1) !== size) throw new Error(`wasm ${HEM_UNROLL_GRAD_KERNEL}: '${name}' has the wrong size`);
    return t;
  };
  const dMuIn = optional('dMu', B * kc);
  const dGammaIn = optional('dGamma', B * nk);
  const dReconIn = optional('dReconstruction', B * nc);
  const dxOut = backend.makeOutput([B, N, C], 'float32');
  const dMu0Out = backend.makeOutput([...(mu0 as tf.TensorInfo).shape], 'float32');
  // Scratch: dμ, dμ⁽ᵗ⁻¹⁾, du, μᵀ / duᵀ [C, K] (kc each); dγ, dγ̄, γ̄, a transposed operand (nk each); D and column sums [K].
  const scratch = allocateScratch(backend, 4 * padded(kc) + 4 * padded(nk) + 2 * padded(K));
  let dmu = scratch.start;
  let dprev = dmu + padded(kc);
  const du = dprev + padded(kc);
  const operandT = du + padded(kc);
  const dgam = operandT + padded(kc);
  const dgbar = dgam + padded(nk);
  const gbar = dgbar + padded(nk);
  const transposed = gbar + padded(nk);
  const denominators = transposed + padded(nk);
  const h = heapF32(backend);
  const memory = memoryOf(backend);
  const products = new HeapProducts(h, simdGemm(memory), transposed);
  const passes = new RowPasses(h, simdHemRows(memory), K, denominators, denominators + padded(K));
  const at = (t: tf.TensorInfo | undefined): number => (t === undefined ? -1 : offsetF32(backend, t));
  const [X, WS, DX, DM0, DMU, DG, DR] = [x, workspace, dxOut, dMu0Out, dMuIn, dGammaIn, dReconIn].map(at) as [number, number, number, number, number, number, number];
  const keep = f32(1 - s.stepSize);
  const eta = f32(s.stepSize);
  const temperature = f32(s.temperature);
  const norms = new Float32Array(K);
  const columnSums = new Float64Array(K);
  if (!s.batchedMu0) h.fill(0, DM0, DM0 + kc);
  for (let b = 0; b < B; b++) {
    const xb = X + b * nc;
    const dxb = DX + b * nc;
    h.fill(0, dxb, dxb + nc);
    const mus = WS + b * s.workspace;
    const gammas = mus + (T + 1) * kc;
    const us = gammas + T * nk;
    const muLast = mus + T * kc;
    const gLast = gammas + (T - 1) * nk;
    if (DMU >= 0) h.copyWithin(dmu, DMU + b * kc, DMU + (b + 1) * kc);
    else h.fill(0, dmu, dmu + kc);
    if (DG >= 0) h.copyWithin(dgam, DG + b * nk, DG + (b + 1) * nk);
    else h.fill(0, dgam, dgam + nk);
    if (DR >= 0) {
      const dr = DR + b * nc;
      transposeOnHeap(h, muLast, K, C, operandT);
      products.product(dr, C, 1, operandT, dgam, N, C, K, true);
      products.productTransposedA(gLast, dr, dmu, K, N, C, true);
    }
    for (let t = T - 1; t >= 0; t--) {
      const mu = mus + t * kc;
      const g = gammas + t * nk;
      // Through the normalisation of μ⁽ᵗ⁺¹⁾.
      if (s.normalize) {
        const u = us + t * kc;
        rowNorms(h, s, u, norms);
        for (let k = 0; k < K; k++) {
          const o = k * C;
          let dot = 0;
          for (let c = 0; c < C; c++) dot += (h[dmu + o + c] as number) * (h[u + o + c] as number);
          const r = norms[k] as number;
          const den = r + NORM_EPSILON;
          for (let c = 0; c < C; c++) h[du + o + c] = (h[dmu + o + c] as number) / den - ((h[u + o + c] as number) * dot) / (den * den * r);
        }
      } else {
        h.copyWithin(du, dmu, dmu + kc);
      }
      // Highway N-step (Eq. 13).
      if (eta === 1) {
        h.fill(0, dprev, dprev + kc);
      } else {
        passes.scale(du, dprev, kc, keep);
        passes.scale(du, du, kc, eta);
      }
      // F = γ̄ᵀ·x: dγ̄ = x·duᵀ, dx += γ̄·du.
      passes.normalize(g, gbar, N);
      transposeOnHeap(h, du, K, C, operandT);
      products.product(xb, C, 1, operandT, dgbar, N, C, K, false);
      products.product(gbar, K, 1, du, dxb, N, K, C, true);
      // γ̄ = γ / (Σ_n γ + ε), then the softmax and 1/σ² (Eq. 8): dγ becomes dA in place.
      passes.responsibilityGradient(dgam, dgbar, gbar, g, N, temperature);
      if (s.rbf) {
        // logits = 2A − ‖μ‖²: dμ_k −= 2μ_k·Σ_n dlogits_nk, dA = 2·dlogits.
        columnSums.fill(0);
        for (let i = 0; i < nk; i++) columnSums[i % K] = (columnSums[i % K] as number) + (h[dgam + i] as number);
        for (let i = 0; i < kc; i++) h[dprev + i] = f32((h[dprev + i] as number) - f32(f32(2 * (h[mu + i] as number)) * f32(columnSums[Math.floor(i / C)] as number)));
        for (let i = 0; i < nk; i++) h[dgam + i] = f32(2 * (h[dgam + i] as number));
      }
      // A = x·μᵀ: dx += dA·μ, dμ⁽ᵗ⁻¹⁾ += dAᵀ·x.
      products.product(dgam, K, 1, mu, dxb, N, K, C, true);
      products.productTransposedA(dgam, xb, dprev, K, N, C, true);
      [dmu, dprev] = [dprev, dmu];
      h.fill(0, dgam, dgam + nk);
    }
    if (s.batchedMu0) {
      h.copyWithin(DM0 + b * kc, dmu, dmu + kc);
    } else {
      for (let i = 0; i < kc; i++) h[DM0 + i] = f32((h[DM0 + i] as number) + (h[dmu + i] as number));
    }
  }
  backend.disposeData(scratch.info.dataId);
  return [dxOut, dMu0Out];
}
