// The unrolled highway-EM iteration (HEMNet Sec. 3-4) as one forward kernel
// and one backward kernel, for the default head's hot path: T × (E-step
// Eq. 7/8, N-step Eq. 13, optional L2 normalisation of μ), then the R-step
// Eq. 10. The arithmetic follows src/em/steps.ts operation by operation in
// float32 (products on OpenBLAS sgemm, softmax as the native Softmax), so the
// results equal the tfjs composition to rounding; the backward pass is the
// chain rule through exactly those operations (derivation in the comments).
//
// Shapes per batch item: x [N, C], μ [K, C], γ [N, K]. The workspace holds,
// per item, μ⁽⁰⁾..μ⁽ᵀ⁾ [(T+1), K, C], γ⁽¹⁾..γ⁽ᵀ⁾ [T, N, K] and, with
// normalisation, the unnormalised N-step results u⁽¹⁾..u⁽ᵀ⁾ [T, K, C]: the
// forward pass writes it, the backward pass reads it (no recomputation).
#include "common.h"
#include <algorithm>
#include <cmath>
#include <vector>

#pragma STDC FP_CONTRACT OFF

namespace hemnet {
namespace {

constexpr float kNkEpsilon = 1e-6f;    // NK_EPSILON of steps.ts (γ / (1e-6 + N_k))
constexpr float kNormEpsilon = 1e-6f;  // NORM_EPSILON of steps.ts (μ / (‖μ‖ + 1e-6))

struct HemShape {
  int B, N, C, K, T;
  bool rbf, normalize, batchedMu0;
  float stepSize, temperature;
  size_t kc() const { return size_t(K) * C; }
  size_t nk() const { return size_t(N) * K; }
  size_t nc() const { return size_t(N) * C; }
  // Workspace floats per batch item.
  size_t workspace() const { return size_t(T + 1) * kc() + size_t(T) * nk() + (normalize ? size_t(T) * kc() : 0); }
};

HemShape readShape(const Args& args, size_t paramsIndex, size_t intsIndex, const char* fn) {
  size_t lp, li;
  const float* p = args.f32(paramsIndex, &lp, fn);
  const int32_t* q = args.i32(intsIndex, &li, fn);
  check(lp == 2 && li == 8, std::string(fn) + ": params must have 2 entries and ints 8");
  HemShape s{q[0], q[1], q[2], q[3], q[4], q[5] != 0, q[6] != 0, q[7] != 0, p[0], p[1]};
  check(s.B > 0 && s.N > 0 && s.C > 0 && s.K > 0 && s.T > 0, std::string(fn) + ": empty shape");
  return s;
}

// C = op(A)·op(B) (+ C when accumulate), row major.
void gemm(bool tA, bool tB, int M, int N, int K, const float* A, const float* B, float* C, bool accumulate) {
  sgemm(tA, tB, M, N, K, 1.0f, A, tA ? M : K, B, tB ? K : N, accumulate ? 1.0f : 0.0f, C, N);
}

// γ̄ = γ / (N_k + 1e-6), N_k = Σ_n γ_nk (the N-step normalisation of Eq. 9); also returns D_k = N_k + 1e-6.
void normalizedResponsibilities(const HemShape& s, const float* gamma, float* gbar, float* denom) {
  std::vector<double> nk(size_t(s.K), 0.0);
  for (int n = 0; n < s.N; n++)
    for (int k = 0; k < s.K; k++) nk[size_t(k)] += gamma[size_t(n) * s.K + k];
  for (int k = 0; k < s.K; k++) denom[k] = float(nk[size_t(k)]) + kNkEpsilon;
  for (size_t i = 0; i < s.nk(); i++) gbar[i] = gamma[i] / denom[i % size_t(s.K)];
}

// ‖u_k‖ over C, as tf.norm (sqrt of the float sum of squares).
void rowNorms(const HemShape& s, const float* u, float* norms) {
  for (int k = 0; k < s.K; k++) {
    double acc = 0;
    const float* row = u + size_t(k) * s.C;
    for (int c = 0; c < s.C; c++) acc += double(row[c] * row[c]);
    norms[k] = std::sqrt(float(acc));
  }
}

}  // namespace

// hemUnroll(x, mu0, mu, gamma, reconstruction, workspace, params Float32Array[2], ints Int32Array[8])
//   params: η, σ²; ints: B, N, C, K, T, kernel (0 dot, 1 rbf), normalizeBases, mu0 batched ([B, K, C] vs [K, C]).
napi_value HemUnroll(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(8, "hemUnroll");
    const HemShape s = readShape(args, 6, 7, "hemUnroll");
    size_t lx, lm0, lmu, lg, lr, lw;
    const float* x = args.f32(0, &lx, "hemUnroll");
    const float* mu0 = args.f32(1, &lm0, "hemUnroll");
    float* muOut = args.f32(2, &lmu, "hemUnroll");
    float* gammaOut = args.f32(3, &lg, "hemUnroll");
    float* recon = args.f32(4, &lr, "hemUnroll");
    float* ws = args.f32(5, &lw, "hemUnroll");
    const size_t B = size_t(s.B);
    check(lx == B * s.nc() && lm0 == (s.batchedMu0 ? B : 1) * s.kc() && lmu == B * s.kc() && lg == B * s.nk() && lr == B * s.nc() &&
              lw == B * s.workspace(),
          "hemUnroll: buffer sizes do not match the shapes");
    const float keep = float(1.0 - double(s.stepSize)), eta = s.stepSize, temperature = s.temperature;
    std::vector<float> gbar(s.nk()), denom(size_t(s.K)), update(s.kc()), norms(size_t(s.K));
    for (size_t b = 0; b < B; b++) {
      const float* xb = x + b * s.nc();
      float* mus = ws + b * s.workspace();
      float* gammas = mus + size_t(s.T + 1) * s.kc();
      float* us = gammas + size_t(s.T) * s.nk();
      std::copy_n(mu0 + (s.batchedMu0 ? b * s.kc() : 0), s.kc(), mus);
      for (int t = 0; t < s.T; t++) {
        const float* mu = mus + size_t(t) * s.kc();
        float* g = gammas + size_t(t) * s.nk();
        // E-step (Eq. 8): logits x·μᵀ; Eq. 7 (rbf): 2x·μᵀ − ‖μ_k‖² (‖x_n‖² cancels in the softmax).
        gemm(false, true, s.N, s.K, s.C, xb, mu, g, false);
        if (s.rbf) {
          // ‖μ_k‖² = tf.sum(tf.square(μ), 2).
          for (int k = 0; k < s.K; k++) {
            double acc = 0;
            for (int c = 0; c < s.C; c++) acc += double(mu[size_t(k) * s.C + c] * mu[size_t(k) * s.C + c]);
            norms[size_t(k)] = float(acc);
          }
          for (size_t i = 0; i < s.nk(); i++) g[i] = g[i] * 2.0f - norms[i % size_t(s.K)];
        }
        // γ = softmax_k(logits / σ²), as the native Softmax kernel.
        for (int n = 0; n < s.N; n++) {
          float* row = g + size_t(n) * s.K;
          float m = -INFINITY;
          for (int k = 0; k < s.K; k++) {
            row[k] = row[k] / temperature;
            m = std::max(m, row[k]);
          }
          double sum = 0;
          for (int k = 0; k < s.K; k++) {
            row[k] = std::exp(row[k] - m);
            sum += row[k];
          }
          const float inv = float(1.0 / sum);
          for (int k = 0; k < s.K; k++) row[k] *= inv;
        }
        // N-step (Eq. 9/13): F = γ̄ᵀ·x, μ⁽ᵗ⁾ = (1 − η)·μ⁽ᵗ⁻¹⁾ + η·F (η = 1: F).
        normalizedResponsibilities(s, g, gbar.data(), denom.data());
        float* next = mus + size_t(t + 1) * s.kc();
        float* u = s.normalize ? us + size_t(t) * s.kc() : next;
        gemm(true, false, s.K, s.C, s.N, gbar.data(), xb, update.data(), false);
        if (eta == 1.0f) {
          std::copy(update.begin(), update.end(), u);
        } else {
          for (size_t i = 0; i < s.kc(); i++) {
            const float a = mu[i] * keep, c = update[i] * eta;
            u[i] = a + c;
          }
        }
        if (s.normalize) {
          // μ ← u / (‖u‖ + 1e-6) over C (EMANet's normalisation).
          rowNorms(s, u, norms.data());
          for (size_t i = 0; i < s.kc(); i++) next[i] = u[i] / (norms[i / size_t(s.C)] + kNormEpsilon);
        }
      }
      // R-step (Eq. 10): X̃ = γ⁽ᵀ⁾·μ⁽ᵀ⁾.
      const float* muT = mus + size_t(s.T) * s.kc();
      const float* gT = gammas + size_t(s.T - 1) * s.nk();
      gemm(false, false, s.N, s.C, s.K, gT, muT, recon + b * s.nc(), false);
      std::copy_n(muT, s.kc(), muOut + b * s.kc());
      std::copy_n(gT, s.nk(), gammaOut + b * s.nk());
    }
  });
}

// hemUnrollGrad(dMu|null, dGamma|null, dReconstruction|null, x, workspace, dx, dMu0, params, ints)
//   Reverse mode through the forward pass above, iteration T down to 1.
//   R-step: dγ⁽ᵀ⁾ += dX̃·μ⁽ᵀ⁾ᵀ, dμ⁽ᵀ⁾ += γ⁽ᵀ⁾ᵀ·dX̃.
//   Normalisation μ = u/(r + ε), r = ‖u‖: du = dμ/(r + ε) − u·(dμ·u)/((r + ε)²·r).
//   N-step: dF = η·du, dμ⁽ᵗ⁻¹⁾ = (1 − η)·du; F = γ̄ᵀx: dγ̄ = x·dFᵀ, dx += γ̄·dF;
//     γ̄ = γ/D, D_k = Σ_n γ_nk + ε: dγ_nk += (dγ̄_nk − Σ_m dγ̄_mk·γ̄_mk)/D_k.
//   E-step: dL = γ ⊙ (dγ − Σ_k dγ⊙γ) (softmax), dA = dL/σ² (dot; rbf: 2·dL/σ² and
//     dμ_k −= 2μ_k·Σ_n dL_nk/σ²); A = x·μᵀ: dx += dA·μ, dμ⁽ᵗ⁻¹⁾ += dAᵀ·x.
//   dMu0 = dμ⁽⁰⁾, summed over the batch when μ⁽⁰⁾ is [K, C].
napi_value HemUnrollGrad(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(9, "hemUnrollGrad");
    const HemShape s = readShape(args, 7, 8, "hemUnrollGrad");
    const size_t B = size_t(s.B);
    auto optional = [&](size_t i, size_t expected) -> const float* {
      napi_valuetype type;
      napi_typeof(args.env, args.argv[i], &type);
      if (type == napi_null || type == napi_undefined) return nullptr;
      size_t length;
      const float* p = args.f32(i, &length, "hemUnrollGrad");
      check(length == expected, "hemUnrollGrad: an output gradient has the wrong size");
      return p;
    };
    const float* dMu = optional(0, B * s.kc());
    const float* dGamma = optional(1, B * s.nk());
    const float* dRecon = optional(2, B * s.nc());
    size_t lx, lw, ldx, ldm;
    const float* x = args.f32(3, &lx, "hemUnrollGrad");
    const float* ws = args.f32(4, &lw, "hemUnrollGrad");
    float* dx = args.f32(5, &ldx, "hemUnrollGrad");
    float* dMu0 = args.f32(6, &ldm, "hemUnrollGrad");
    check(lx == B * s.nc() && lw == B * s.workspace() && ldx == lx && ldm == (s.batchedMu0 ? B : 1) * s.kc(),
          "hemUnrollGrad: buffer sizes do not match the shapes");
    const float keep = float(1.0 - double(s.stepSize)), eta = s.stepSize, temperature = s.temperature;
    std::vector<float> dmu(s.kc()), dprev(s.kc()), du(s.kc()), dgam(s.nk()), dgbar(s.nk()), gbar(s.nk());
    std::vector<float> denom(size_t(s.K)), norms(size_t(s.K)), colsum(size_t(s.K));
    if (!s.batchedMu0) std::fill(dMu0, dMu0 + s.kc(), 0.0f);
    for (size_t b = 0; b < B; b++) {
      const float* xb = x + b * s.nc();
      float* dxb = dx + b * s.nc();
      std::fill(dxb, dxb + s.nc(), 0.0f);
      const float* mus = ws + b * s.workspace();
      const float* gammas = mus + size_t(s.T + 1) * s.kc();
      const float* us = gammas + size_t(s.T) * s.nk();
      const float* muT = mus + size_t(s.T) * s.kc();
      const float* gT = gammas + size_t(s.T - 1) * s.nk();
      if (dMu != nullptr) std::copy_n(dMu + b * s.kc(), s.kc(), dmu.begin());
      else std::fill(dmu.begin(), dmu.end(), 0.0f);
      if (dGamma != nullptr) std::copy_n(dGamma + b * s.nk(), s.nk(), dgam.begin());
      else std::fill(dgam.begin(), dgam.end(), 0.0f);
      if (dRecon != nullptr) {
        const float* dr = dRecon + b * s.nc();
        gemm(false, true, s.N, s.K, s.C, dr, muT, dgam.data(), true);
        gemm(true, false, s.K, s.C, s.N, gT, dr, dmu.data(), true);
      }
      for (int t = s.T - 1; t >= 0; t--) {
        const float* mu = mus + size_t(t) * s.kc();
        const float* g = gammas + size_t(t) * s.nk();
        // Through the normalisation of μ⁽ᵗ⁺¹⁾.
        if (s.normalize) {
          const float* u = us + size_t(t) * s.kc();
          rowNorms(s, u, norms.data());
          for (int k = 0; k < s.K; k++) {
            const size_t o = size_t(k) * s.C;
            double dot = 0;
            for (int c = 0; c < s.C; c++) dot += double(dmu[o + c]) * double(u[o + c]);
            const double r = norms[size_t(k)], den = r + double(kNormEpsilon);
            for (int c = 0; c < s.C; c++) du[o + c] = float(double(dmu[o + c]) / den - double(u[o + c]) * dot / (den * den * r));
          }
        } else {
          std::copy(dmu.begin(), dmu.end(), du.begin());
        }
        // Highway N-step (Eq. 13).
        if (eta == 1.0f) {
          std::fill(dprev.begin(), dprev.end(), 0.0f);
        } else {
          for (size_t i = 0; i < s.kc(); i++) {
            dprev[i] = du[i] * keep;
            du[i] = du[i] * eta;
          }
        }
        // F = γ̄ᵀ·x.
        normalizedResponsibilities(s, g, gbar.data(), denom.data());
        gemm(false, true, s.N, s.K, s.C, xb, du.data(), dgbar.data(), false);
        gemm(false, false, s.N, s.C, s.K, gbar.data(), du.data(), dxb, true);
        // γ̄ = γ / (Σ_n γ + ε).
        std::fill(colsum.begin(), colsum.end(), 0.0f);
        {
          std::vector<double> acc(size_t(s.K), 0.0);
          for (size_t i = 0; i < s.nk(); i++) acc[i % size_t(s.K)] += double(dgbar[i]) * double(gbar[i]);
          for (int k = 0; k < s.K; k++) colsum[size_t(k)] = float(acc[size_t(k)]);
        }
        for (size_t i = 0; i < s.nk(); i++) {
          const size_t k = i % size_t(s.K);
          dgam[i] += (dgbar[i] - colsum[k]) / denom[k];
        }
        // Softmax and 1/σ² (Eq. 8); dgam becomes dA in place.
        for (int n = 0; n < s.N; n++) {
          const float* gr = g + size_t(n) * s.K;
          float* dr = dgam.data() + size_t(n) * s.K;
          double dot = 0;
          for (int k = 0; k < s.K; k++) dot += double(dr[k]) * double(gr[k]);
          const float d = float(dot);
          for (int k = 0; k < s.K; k++) dr[k] = gr[k] * (dr[k] - d) / temperature;
        }
        if (s.rbf) {
          // logits = 2A − ‖μ‖²: dμ_k −= 2μ_k·Σ_n dlogits_nk, dA = 2·dlogits.
          std::vector<double> acc(size_t(s.K), 0.0);
          for (size_t i = 0; i < s.nk(); i++) acc[i % size_t(s.K)] += dgam[i];
          for (size_t i = 0; i < s.kc(); i++) dprev[i] -= 2.0f * mu[i] * float(acc[i / size_t(s.C)]);
          for (size_t i = 0; i < s.nk(); i++) dgam[i] *= 2.0f;
        }
        // A = x·μᵀ.
        gemm(false, false, s.N, s.C, s.K, dgam.data(), mu, dxb, true);
        gemm(true, false, s.K, s.C, s.N, dgam.data(), xb, dprev.data(), true);
        std::swap(dmu, dprev);
        std::fill(dgam.begin(), dgam.end(), 0.0f);
      }
      float* target = dMu0 + (s.batchedMu0 ? b * s.kc() : 0);
      if (s.batchedMu0) std::copy(dmu.begin(), dmu.end(), target);
      else
        for (size_t i = 0; i < s.kc(); i++) target[i] += dmu[i];
    }
  });
}

}  // namespace hemnet
