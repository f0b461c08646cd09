// Normalisation kernels: batch norm forward (tfjs FusedBatchNorm semantics:
// each parameter repeats with its own length along the flat tensor) and
// softmax over the last axis.
#include "common.h"
#include <omp.h>
#include <algorithm>
#include <cmath>

namespace hemnet {

// batchNorm(x, mean, variance, offset|null, scale|null, out, epsilon)
napi_value BatchNorm(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(7, "batchNorm");
    size_t lx, lm, lv, lof = 0, lsc = 0, lo;
    const float* x = args.f32(0, &lx, "batchNorm");
    const float* mean = args.f32(1, &lm, "batchNorm");
    const float* var = args.f32(2, &lv, "batchNorm");
    napi_valuetype t3, t4;
    napi_typeof(args.env, args.argv[3], &t3);
    napi_typeof(args.env, args.argv[4], &t4);
    const float* off = t3 == napi_null ? nullptr : args.f32(3, &lof, "batchNorm");
    const float* sc = t4 == napi_null ? nullptr : args.f32(4, &lsc, "batchNorm");
    float* out = args.f32(5, &lo, "batchNorm");
    const float eps = float(args.number(6));
    check(lo == lx && lm > 0 && lv > 0, "batchNorm: bad sizes");
    const size_t C = lm;
    const bool perChannel = lv == C && (off == nullptr || lof == C) && (sc == nullptr || lsc == C) && lx % C == 0;
    if (perChannel) {
      // Precompute y = x·k + c per channel.
      float k[4096], c[4096];
      float* kk = C <= 4096 ? k : new float[C];
      float* cc = C <= 4096 ? c : new float[C];
      for (size_t j = 0; j < C; j++) {
        float s = (sc == nullptr ? 1.0f : sc[j]) / std::sqrt(var[j] + eps);
        kk[j] = s;
        cc[j] = (off == nullptr ? 0.0f : off[j]) - mean[j] * s;
      }
      const ptrdiff_t rows = ptrdiff_t(lx / C);
      chunks(rows, lx >= (1 << 20), [&](ptrdiff_t r0, ptrdiff_t r1) {
        for (ptrdiff_t r = r0; r < r1; r++) {
          const float* xr = x + size_t(r) * C;
          float* yr = out + size_t(r) * C;
          for (size_t j = 0; j < C; j++) yr[j] = xr[j] * kk[j] + cc[j];
        }
      });
      if (kk != k) delete[] kk;
      if (cc != c) delete[] cc;
      return;
    }
    for (size_t i = 0; i < lx; i++) {
      float s = (sc == nullptr ? 1.0f : sc[i % lsc]) / std::sqrt(var[i % lv] + eps);
      out[i] = (x[i] - mean[i % lm]) * s + (off == nullptr ? 0.0f : off[i % lof]);
    }
  });
}

// softmax(x, out, rows, cols): softmax over the last axis.
napi_value Softmax(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(4, "softmax");
    size_t lx, lo;
    const float* x = args.f32(0, &lx, "softmax");
    float* out = args.f32(1, &lo, "softmax");
    const size_t rows = size_t(args.integer(2)), cols = size_t(args.integer(3));
    check(lx == rows * cols && lo == lx, "softmax: buffer sizes do not match [rows, cols]");
    chunks(ptrdiff_t(rows), lx >= (1 << 20), [&](ptrdiff_t r0, ptrdiff_t r1) {
    for (ptrdiff_t r = r0; r < r1; r++) {
      const float* xr = x + size_t(r) * cols;
      float* yr = out + size_t(r) * cols;
      float m = -INFINITY;
      for (size_t j = 0; j < cols; j++) m = std::max(m, xr[j]);
      double s = 0;
      for (size_t j = 0; j < cols; j++) {
        yr[j] = std::exp(xr[j] - m);
        s += yr[j];
      }
      const float inv = float(1.0 / s);
      for (size_t j = 0; j < cols; j++) yr[j] *= inv;
    }
    });
  });
}

}  // namespace hemnet
