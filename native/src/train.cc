// Training kernels: one fused Adam update (tfjs AdamOptimizer's arithmetic,
// operation by operation in float32, so results equal the stock update),
// and batch-norm training (batch moments + normalisation) with its gradient,
// each one pass or two over the data instead of dozens of small kernels.
#include "common.h"
#include <omp.h>
#include <cmath>
#include <vector>

#pragma STDC FP_CONTRACT OFF

namespace hemnet {
namespace {

constexpr size_t kParallelMin = 1 << 20;

// Optional Float32Array argument (null / undefined → nullptr).
const float* optionalF32(Args& args, size_t i, size_t* length, const char* fn) {
  napi_valuetype t;
  napi_typeof(args.env, args.argv[i], &t);
  if (t == napi_null || t == napi_undefined) {
    *length = 0;
    return nullptr;
  }
  return args.f32(i, length, fn);
}

// Per-channel sums in double of f(row, channel) over rows of [rows, C],
// split over threads (per-thread partials) for large inputs.
template <typename F>
void channelSums(size_t rows, size_t C, bool parallel, std::vector<double>& out, F term) {
  const int threads = parallel ? omp_get_max_threads() : 1;
  std::vector<double> partial(size_t(threads) * C, 0.0);
  auto work = [&](int t, int nt) {
    double* acc = partial.data() + size_t(t) * C;
    const size_t r0 = rows * size_t(t) / size_t(nt), r1 = rows * size_t(t + 1) / size_t(nt);
    for (size_t r = r0; r < r1; r++) term(r, acc);
  };
  if (threads > 1) {
#pragma omp parallel num_threads(threads)
    work(omp_get_thread_num(), omp_get_num_threads());
  } else {
    work(0, 1);
  }
  out.assign(C, 0.0);
  for (int t = 0; t < threads; t++)
    for (size_t j = 0; j < C; j++) out[j] += partial[size_t(t) * C + j];
}

}  // namespace

// adam(w, m, v, g, wOut, mOut, vOut, params Float32Array[8])
//   params: beta1, 1 − beta1, beta2, 1 − beta2, 1 − beta1^t, 1 − beta2^t, epsilon, −learningRate
//   (each rounded to float32, as tfjs makes them scalar tensors). Outputs may
//   be the inputs (in place). Per element, with tfjs's order of operations:
//   m' = m·β₁ + g·(1−β₁); v' = v·β₂ + g²·(1−β₂);
//   w' = ((m'/(1−β₁ᵗ)) / (√(v'/(1−β₂ᵗ)) + ε))·(−lr) + w
napi_value Adam(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(8, "adam");
    size_t lw, lm, lv, lg, lwo, lmo, lvo, lp;
    const float* w = args.f32(0, &lw, "adam");
    const float* m = args.f32(1, &lm, "adam");
    const float* v = args.f32(2, &lv, "adam");
    const float* g = args.f32(3, &lg, "adam");
    float* wo = args.f32(4, &lwo, "adam");
    float* mo = args.f32(5, &lmo, "adam");
    float* vo = args.f32(6, &lvo, "adam");
    const float* p = args.f32(7, &lp, "adam");
    check(lp == 8, "adam: params must have 8 entries");
    check(lm == lw && lv == lw && lg == lw && lwo == lw && lmo == lw && lvo == lw, "adam: buffer sizes differ");
    const float b1 = p[0], ob1 = p[1], b2 = p[2], ob2 = p[3], c1 = p[4], c2 = p[5], eps = p[6], nlr = p[7];
    chunks(ptrdiff_t(lw), lw >= kParallelMin, [&](ptrdiff_t i0, ptrdiff_t i1) {
      for (ptrdiff_t i = i0; i < i1; i++) {
        const float gi = g[i];
        const float m1a = m[i] * b1, m1b = gi * ob1;
        const float m1 = m1a + m1b;
        const float sq = gi * gi;
        const float v1a = v[i] * b2, v1b = sq * ob2;
        const float v1 = v1a + v1b;
        const float bc1 = m1 / c1, bc2 = v1 / c2;
        const float denom = std::sqrt(bc2) + eps;
        const float ratio = bc1 / denom;
        const float step = ratio * nlr;
        const float w1 = step + w[i];
        mo[i] = m1;
        vo[i] = v1;
        wo[i] = w1;
      }
    });
  });
}

// batchNormTrain(x, scale|null, offset|null, y, mean, variance, channels, epsilon)
//   x, y: [rows, C]; mean, variance: [C], the batch statistics (biased
//   variance, as tf.moments): mean = Σx/N and variance = Σ(x − mean)²/N,
//   accumulated in double (as the Mean kernels); y = x·k + (offset − mean·k),
//   k = scale / √(variance + ε) (as the native FusedBatchNorm).
napi_value BatchNormTrain(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(8, "batchNormTrain");
    size_t lx, ls, lo, ly, lm, lv;
    const float* x = args.f32(0, &lx, "batchNormTrain");
    const float* sc = optionalF32(args, 1, &ls, "batchNormTrain");
    const float* off = optionalF32(args, 2, &lo, "batchNormTrain");
    float* y = args.f32(3, &ly, "batchNormTrain");
    float* mean = args.f32(4, &lm, "batchNormTrain");
    float* var = args.f32(5, &lv, "batchNormTrain");
    const size_t C = size_t(args.integer(6));
    const float eps = float(args.number(7));
    check(C > 0 && lx % C == 0 && ly == lx && lm == C && lv == C && (sc == nullptr || ls == C) && (off == nullptr || lo == C),
          "batchNormTrain: buffer sizes do not match [rows, C]");
    const size_t rows = lx / C;
    check(rows > 0, "batchNormTrain: empty input");
    const bool par = lx >= kParallelMin;
    const double inv = 1.0 / double(rows);
    std::vector<double> s;
    channelSums(rows, C, par, s, [&](size_t r, double* acc) {
      const float* xr = x + r * C;
      for (size_t j = 0; j < C; j++) acc[j] += xr[j];
    });
    for (size_t j = 0; j < C; j++) mean[j] = float(s[j] * inv);
    channelSums(rows, C, par, s, [&](size_t r, double* acc) {
      const float* xr = x + r * C;
      for (size_t j = 0; j < C; j++) {
        const float d = xr[j] - mean[j];
        const float d2 = d * d;
        acc[j] += d2;
      }
    });
    std::vector<float> k(C), c(C);
    for (size_t j = 0; j < C; j++) {
      var[j] = float(s[j] * inv);
      const float kj = (sc == nullptr ? 1.0f : sc[j]) / std::sqrt(var[j] + eps);
      k[j] = kj;
      c[j] = (off == nullptr ? 0.0f : off[j]) - mean[j] * kj;
    }
    chunks(ptrdiff_t(rows), par, [&](ptrdiff_t r0, ptrdiff_t r1) {
      for (ptrdiff_t r = r0; r < r1; r++) {
        const float* xr = x + size_t(r) * C;
        float* yr = y + size_t(r) * C;
        for (size_t j = 0; j < C; j++) yr[j] = xr[j] * k[j] + c[j];
      }
    });
  });
}

// batchNormTrainGrad(dy, x, mean, variance, scale|null, dMean|null, dVariance|null, dx, dScale, dOffset, channels, epsilon)
//   The gradient of y = (x − μ)·r·γ + β with μ, σ² the batch statistics of x
//   (r = (σ² + ε)^−½, N rows), plus the gradients reaching the mean and
//   variance outputs themselves:
//   dβ = Σdy, dγ = r·Σdy(x − μ),
//   dx = γr·(dy − Σdy/N − (x − μ)·r·dγ/N) + dμ/N + dσ²·2(x − μ)/N.
napi_value BatchNormTrainGrad(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(12, "batchNormTrainGrad");
    size_t ldy, lx, lm, lv, ls, ldm, ldv, ldx, lds, ldo;
    const float* dy = args.f32(0, &ldy, "batchNormTrainGrad");
    const float* x = args.f32(1, &lx, "batchNormTrainGrad");
    const float* mean = args.f32(2, &lm, "batchNormTrainGrad");
    const float* var = args.f32(3, &lv, "batchNormTrainGrad");
    const float* sc = optionalF32(args, 4, &ls, "batchNormTrainGrad");
    const float* dmean = optionalF32(args, 5, &ldm, "batchNormTrainGrad");
    const float* dvar = optionalF32(args, 6, &ldv, "batchNormTrainGrad");
    float* dx = args.f32(7, &ldx, "batchNormTrainGrad");
    float* dsc = args.f32(8, &lds, "batchNormTrainGrad");
    float* doff = args.f32(9, &ldo, "batchNormTrainGrad");
    const size_t C = size_t(args.integer(10));
    const float eps = float(args.number(11));
    check(C > 0 && lx % C == 0 && ldy == lx && ldx == lx && lm == C && lv == C && lds == C && ldo == C && (sc == nullptr || ls == C) &&
              (dmean == nullptr || ldm == C) && (dvar == nullptr || ldv == C),
          "batchNormTrainGrad: buffer sizes do not match [rows, C]");
    const size_t rows = lx / C;
    check(rows > 0, "batchNormTrainGrad: empty input");
    const bool par = lx >= kParallelMin;
    std::vector<double> sums;
    // Interleaved sums: [Σdy, Σdy·(x − μ)] per channel.
    channelSums(rows, 2 * C, par, sums, [&](size_t r, double* acc) {
      const float* dyr = dy + r * C;
      const float* xr = x + r * C;
      for (size_t j = 0; j < C; j++) {
        acc[j] += dyr[j];
        acc[C + j] += double(dyr[j]) * double(xr[j] - mean[j]);
      }
    });
    const double n = double(rows);
    std::vector<float> a(C), b(C), e(C), f(C), h(C);
    for (size_t j = 0; j < C; j++) {
      const double r = 1.0 / std::sqrt(double(var[j]) + double(eps));
      const double gamma = sc == nullptr ? 1.0 : double(sc[j]);
      const double dgamma = r * sums[C + j];
      doff[j] = float(sums[j]);
      dsc[j] = float(dgamma);
      a[j] = float(gamma * r);
      b[j] = float(sums[j] / n);
      e[j] = float(r * dgamma / n);
      f[j] = float(dvar == nullptr ? 0.0 : 2.0 * double(dvar[j]) / n);
      h[j] = float(dmean == nullptr ? 0.0 : double(dmean[j]) / n);
    }
    // dx = a·(dy − b − (x − μ)·e) + (x − μ)·f + h
    chunks(ptrdiff_t(rows), par, [&](ptrdiff_t r0, ptrdiff_t r1) {
      for (ptrdiff_t r = r0; r < r1; r++) {
        const float* dyr = dy + size_t(r) * C;
        const float* xr = x + size_t(r) * C;
        float* o = dx + size_t(r) * C;
        for (size_t j = 0; j < C; j++) {
          const float d = xr[j] - mean[j];
          o[j] = a[j] * (dyr[j] - b[j] - d * e[j]) + d * f[j] + h[j];
        }
      }
    });
  });
}


// movingAverage(current, value, out, decay): out = current − (current − value)·decay,
// with tfjs-layers' order of float32 operations (BatchNormalization's update).
napi_value MovingAverage(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(4, "movingAverage");
    size_t lc, lv, lo;
    const float* cur = args.f32(0, &lc, "movingAverage");
    const float* val = args.f32(1, &lv, "movingAverage");
    float* out = args.f32(2, &lo, "movingAverage");
    const float decay = float(args.number(3));
    check(lv == lc && lo == lc, "movingAverage: buffer sizes differ");
    for (size_t i = 0; i < lc; i++) {
      const float d = cur[i] - val[i];
      const float t = d * decay;
      out[i] = cur[i] - t;
    }
  });
}

}  // namespace hemnet
