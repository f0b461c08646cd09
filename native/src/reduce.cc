// Reductions over one contiguous block of axes: x viewed as
// [outer, reduced, inner] → out [outer, inner]. Sum / mean accumulate in
// double (as tfjs's cpu kernels do in JS numbers); max / min are exact.
#include "common.h"
#include <omp.h>
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace hemnet {

enum ReduceOp { kSum = 0, kMean, kMax, kMin };

// reduce(op, x, out, outer, reduced, inner)
napi_value Reduce(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(6, "reduce");
    const int op = args.integer(0);
    size_t lx, lo;
    const float* x = args.f32(1, &lx, "reduce");
    float* out = args.f32(2, &lo, "reduce");
    const size_t outer = size_t(args.integer(3)), red = size_t(args.integer(4)), inner = size_t(args.integer(5));
    check(lx == outer * red * inner && lo == outer * inner, "reduce: buffer sizes do not match [outer, reduced, inner]");
    check(op >= kSum && op <= kMin, "reduce: unknown op " + std::to_string(op));
    const bool par = lx >= (1 << 20);
    const bool isSum = op == kSum || op == kMean;
    const double scale = op == kMean ? 1.0 / double(red) : 1.0;
    if (inner == 1) {
      // Rows: one reduction per outer index.
      chunks(ptrdiff_t(outer), par, [&](ptrdiff_t o0, ptrdiff_t o1) {
      for (ptrdiff_t o = o0; o < o1; o++) {
        const float* row = x + size_t(o) * red;
        if (isSum) {
          double s = 0;
          for (size_t r = 0; r < red; r++) s += row[r];
          out[o] = float(s * scale);
        } else {
          float m = red > 0 ? row[0] : (op == kMax ? -INFINITY : INFINITY);
          for (size_t r = 1; r < red; r++) {
            float v = row[r];
            if (std::isnan(v)) { m = v; break; }
            m = op == kMax ? std::max(m, v) : std::min(m, v);
          }
          out[o] = m;
        }
      }
      });
      return;
    }
    // Columns: per (outer, inner) reductions along a strided axis; the
    // reduced axis is split across threads with per-thread partials.
    const int threads = par ? omp_get_max_threads() : 1;
    std::vector<double> partial(size_t(threads) * outer * inner);
    const double init = isSum ? 0.0 : (op == kMax ? -INFINITY : INFINITY);
    std::fill(partial.begin(), partial.end(), init);
    auto columns = [&](int t, int nt) {
      double* acc = partial.data() + size_t(t) * outer * inner;
      for (size_t o = 0; o < outer; o++) {
        const size_t begin = red * size_t(t) / size_t(nt), end = red * size_t(t + 1) / size_t(nt);
        double* a = acc + o * inner;
        for (size_t r = begin; r < end; r++) {
          const float* row = x + (o * red + r) * inner;
          if (isSum) {
            for (size_t i = 0; i < inner; i++) a[i] += row[i];
          } else if (op == kMax) {
            for (size_t i = 0; i < inner; i++) a[i] = std::isnan(row[i]) || std::isnan(a[i]) ? NAN : std::max(a[i], double(row[i]));
          } else {
            for (size_t i = 0; i < inner; i++) a[i] = std::isnan(row[i]) || std::isnan(a[i]) ? NAN : std::min(a[i], double(row[i]));
          }
        }
      }
    };
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
      columns(omp_get_thread_num(), omp_get_num_threads());
    } else {
      columns(0, 1);
    }
    for (size_t k = 0; k < outer * inner; k++) {
      double v = partial[k];
      for (int t = 1; t < threads; t++) {
        double w = partial[size_t(t) * outer * inner + k];
        if (isSum) v += w;
        else if (std::isnan(v) || std::isnan(w)) v = NAN;
        else v = op == kMax ? std::max(v, w) : std::min(v, w);
      }
      out[k] = float(isSum ? v * scale : v);
    }
  });
}

// sumSquares(x): Σ x² in double, in order (the same arithmetic as a JS loop
// `total += v * v` over the float32 values).
napi_value SumSquares(napi_env env, napi_callback_info info) {
  double total = 0;
  try {
    Args args(env, info);
    args.need(1, "sumSquares");
    size_t n;
    const float* x = args.f32(0, &n, "sumSquares");
    for (size_t i = 0; i < n; i++) {
      const double v = x[i];
      total += v * v;
    }
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
    return nullptr;
  }
  napi_value result;
  napi_create_double(env, total, &result);
  return result;
}

}  // namespace hemnet
