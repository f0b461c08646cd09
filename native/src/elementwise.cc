// Elementwise kernels: binary ops with numpy/tfjs broadcasting (float32)
// and unary activations, OpenMP-parallel above a size threshold.
#include "common.h"
#include <omp.h>
#include <algorithm>
#include <cmath>
#include <vector>

namespace hemnet {
namespace {

constexpr size_t kParallelMin = 1 << 20;

// kReluGrad: dy · step(x) for a = dy, b = x (tfjs's Relu gradient, mul(dy, cast(step(x)))).
// kPrelu: x < 0 ? α·x : x for a = x, b = α (tfjs's cpu Prelu; NaN stays NaN).
enum BinaryOp { kAdd = 0, kSub, kMul, kDiv, kSquaredDifference, kMaximum, kMinimum, kReluGrad, kPrelu };

template <int Op>
inline float apply(float x, float y) {
  if constexpr (Op == kAdd) return x + y;
  if constexpr (Op == kSub) return x - y;
  if constexpr (Op == kMul) return x * y;
  if constexpr (Op == kDiv) return x / y;
  if constexpr (Op == kSquaredDifference) return (x - y) * (x - y);
  if constexpr (Op == kMaximum) return (std::isnan(x) || std::isnan(y)) ? NAN : std::max(x, y);
  if constexpr (Op == kMinimum) return (std::isnan(x) || std::isnan(y)) ? NAN : std::min(x, y);
  // Branch free (a branch on the sign of x mispredicts half the time): step = (y > 0), NaN where y is NaN.
  if constexpr (Op == kReluGrad) return x * (y == y ? float(y > 0) : y);
  // The product before the select: a conditional FP multiply blocks if-conversion (-ftrapping-math), so the loop would branch.
  if constexpr (Op == kPrelu) {
    const float scaled = y * x;
    return x < 0 ? scaled : x;
  }
  return 0;
}

// One inner run of length n with strides sa, sb ∈ {0, 1}.
template <int Op>
inline void run(const float* a, const float* b, float* o, size_t n, size_t sa, size_t sb) {
  if (sa == 1 && sb == 1) {
    for (size_t i = 0; i < n; i++) o[i] = apply<Op>(a[i], b[i]);
  } else if (sa == 1) {
    const float y = b[0];
    for (size_t i = 0; i < n; i++) o[i] = apply<Op>(a[i], y);
  } else if (sb == 1) {
    const float x = a[0];
    for (size_t i = 0; i < n; i++) o[i] = apply<Op>(x, b[i]);
  } else {
    const float v = apply<Op>(a[0], b[0]);
    for (size_t i = 0; i < n; i++) o[i] = v;
  }
}

struct Layout {
  std::vector<size_t> dims, sa, sb;  // coalesced output dims and element strides
};

Layout layoutOf(const int32_t* as, size_t ar, const int32_t* bs, size_t br, const int32_t* os, size_t orank) {
  std::vector<size_t> dims, sa, sb;
  // Right-aligned strides of a and b over the output's axes (0 where broadcast).
  std::vector<size_t> fa(orank, 0), fb(orank, 0);
  size_t stride = 1;
  for (size_t k = 0; k < ar; k++) {
    size_t axis = ar - 1 - k, oaxis = orank - 1 - k;
    fa[oaxis] = as[axis] == 1 && os[oaxis] != 1 ? 0 : stride;
    stride *= size_t(as[axis]);
  }
  stride = 1;
  for (size_t k = 0; k < br; k++) {
    size_t axis = br - 1 - k, oaxis = orank - 1 - k;
    fb[oaxis] = bs[axis] == 1 && os[oaxis] != 1 ? 0 : stride;
    stride *= size_t(bs[axis]);
  }
  for (size_t i = 0; i < orank; i++) {
    size_t d = size_t(os[i]);
    if (d == 1) continue;
    if (!dims.empty() && sa.back() == fa[i] * d && sb.back() == fb[i] * d) {
      dims.back() *= d;
      sa.back() = fa[i];
      sb.back() = fb[i];
    } else {
      dims.push_back(d);
      sa.push_back(fa[i]);
      sb.push_back(fb[i]);
    }
  }
  // The coalescing above merges an axis into the previous one only when the
  // previous stride equals this stride × size; re-check strides are sane.
  return {dims, sa, sb};
}

template <int Op>
void binaryKernel(const float* a, const float* b, float* o, const Layout& L, size_t total) {
  if (L.dims.empty()) {
    o[0] = apply<Op>(a[0], b[0]);
    return;
  }
  const size_t rank = L.dims.size();
  const size_t inner = L.dims[rank - 1];
  const size_t ia = L.sa[rank - 1], ib = L.sb[rank - 1];
  const size_t rows = total / inner;
  const bool simpleInner = (ia <= 1 && ib <= 1);
  auto rowOffsets = [&](size_t row, size_t& offA, size_t& offB) {
    offA = 0;
    offB = 0;
    for (size_t k = rank - 1; k-- > 0;) {
      size_t idx = row % L.dims[k];
      row /= L.dims[k];
      offA += idx * L.sa[k];
      offB += idx * L.sb[k];
    }
  };
  chunks(ptrdiff_t(rows), total >= kParallelMin, [&](ptrdiff_t r0, ptrdiff_t r1) {
  for (size_t row = size_t(r0); row < size_t(r1); row++) {
    size_t offA, offB;
    rowOffsets(row, offA, offB);
    float* out = o + row * inner;
    if (simpleInner) {
      run<Op>(a + offA, b + offB, out, inner, ia, ib);
    } else {
      for (size_t i = 0; i < inner; i++) out[i] = apply<Op>(a[offA + i * ia], b[offB + i * ib]);
    }
  }
  });
}

}  // namespace

// binary(op, a, aShape, b, bShape, out, outShape)
napi_value Binary(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(7, "binary");
    int op = args.integer(0);
    size_t la, lb, lo, ra, rb, ro;
    const float* a = args.f32(1, &la, "binary");
    const int32_t* as = args.i32(2, &ra, "binary");
    const float* b = args.f32(3, &lb, "binary");
    const int32_t* bs = args.i32(4, &rb, "binary");
    float* o = args.f32(5, &lo, "binary");
    const int32_t* os = args.i32(6, &ro, "binary");
    check(ra <= ro && rb <= ro, "binary: output rank must be the larger rank");
    if (lo == 0) return;
    Layout L = layoutOf(as, ra, bs, rb, os, ro);
    switch (op) {
      case kAdd: binaryKernel<kAdd>(a, b, o, L, lo); break;
      case kSub: binaryKernel<kSub>(a, b, o, L, lo); break;
      case kMul: binaryKernel<kMul>(a, b, o, L, lo); break;
      case kDiv: binaryKernel<kDiv>(a, b, o, L, lo); break;
      case kSquaredDifference: binaryKernel<kSquaredDifference>(a, b, o, L, lo); break;
      case kMaximum: binaryKernel<kMaximum>(a, b, o, L, lo); break;
      case kMinimum: binaryKernel<kMinimum>(a, b, o, L, lo); break;
      case kReluGrad: binaryKernel<kReluGrad>(a, b, o, L, lo); break;
      case kPrelu: binaryKernel<kPrelu>(a, b, o, L, lo); break;
      default: throw std::runtime_error("binary: unknown op " + std::to_string(op));
    }
  });
}

// preluGrad(dy, x, alpha, out, part): tfjs's Prelu gradient for one α
// (tfjs 4.22: mask = x > 0; dx = where(mask, dy, dy·α); the α gradient sums
// where(mask, 0, dy·x)). part 0: out = dx; part 1: out = the terms of dα,
// which the caller sums with its Sum kernel. Same products, same NaN
// behaviour (x NaN: mask false), one pass instead of Greater, a Select and a
// Multiply per part. Products before the selects, so the loops vectorise
// (a conditional FP multiply is not if-converted under -ftrapping-math).
napi_value PreluGrad(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(5, "preluGrad");
    size_t ld, lx, lo;
    const float* dy = args.f32(0, &ld, "preluGrad");
    const float* x = args.f32(1, &lx, "preluGrad");
    const float alpha = float(args.number(2));
    float* o = args.f32(3, &lo, "preluGrad");
    const int part = args.integer(4);
    check(ld == lx && lo == lx, "preluGrad: dy, x and out must have one size");
    check(part == 0 || part == 1, "preluGrad: part must be 0 (dx) or 1 (alpha terms)");
    const bool par = lx >= kParallelMin;
    if (part == 0) {
      chunks(ptrdiff_t(lx), par, [&](ptrdiff_t lo, ptrdiff_t hi) { for (ptrdiff_t i = lo; i < hi; i++) { const float scaled = dy[i] * alpha; o[i] = x[i] > 0 ? dy[i] : scaled; } });
    } else {
      chunks(ptrdiff_t(lx), par, [&](ptrdiff_t lo, ptrdiff_t hi) { for (ptrdiff_t i = lo; i < hi; i++) { const float term = dy[i] * x[i]; o[i] = x[i] > 0 ? 0.0f : term; } });
    }
  });
}

enum UnaryOp { kRelu = 0, kStep, kExp, kLog, kSqrt, kRsqrt, kSquare, kNeg, kRelu6, kSigmoid, kAbs };

// unary(op, x, out, alpha)
napi_value Unary(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(4, "unary");
    int op = args.integer(0);
    size_t lx, lo;
    const float* x = args.f32(1, &lx, "unary");
    float* o = args.f32(2, &lo, "unary");
    const float alpha = float(args.number(3));
    check(lx == lo, "unary: input and output sizes differ");
    const ptrdiff_t n = ptrdiff_t(lx);
    const bool par = lx >= kParallelMin;
    switch (op) {
      case kRelu:
        chunks(n, par, [&](ptrdiff_t lo, ptrdiff_t hi) { for (ptrdiff_t i = lo; i < hi; i++) o[i] = std::isnan(x[i]) ? x[i] : (x[i] < 0 ? 0.0f : x[i]); });
        break;
      case kStep:
        chunks(n, par, [&](ptrdiff_t lo, ptrdiff_t hi) { for (ptrdiff_t i = lo; i < hi; i++) o[i] = std::isnan(x[i]) ? NAN : (x[i] > 0 ? 1.0f : alpha); });
        break;
      case kExp:
        chunks(n, par, [&](ptrdiff_t lo, ptrdiff_t hi) { for (ptrdiff_t i = lo; i < hi; i++) o[i] = std::exp(x[i]); });
        break;
      case kLog:
        chunks(n, par, [&](ptrdiff_t lo, ptrdiff_t hi) { for (ptrdiff_t i = lo; i < hi; i++) o[i] = std::log(x[i]); });
        break;
      case kSqrt:
        chunks(n, par, [&](ptrdiff_t lo, ptrdiff_t hi) { for (ptrdiff_t i = lo; i < hi; i++) o[i] = std::sqrt(x[i]); });
        break;
      case kRsqrt:
        chunks(n, par, [&](ptrdiff_t lo, ptrdiff_t hi) { for (ptrdiff_t i = lo; i < hi; i++) o[i] = 1.0f / std::sqrt(x[i]); });
        break;
      case kSquare:
        chunks(n, par, [&](ptrdiff_t lo, ptrdiff_t hi) { for (ptrdiff_t i = lo; i < hi; i++) o[i] = x[i] * x[i]; });
        break;
      case kNeg:
        chunks(n, par, [&](ptrdiff_t lo, ptrdiff_t hi) { for (ptrdiff_t i = lo; i < hi; i++) o[i] = -x[i]; });
        break;
      case kRelu6:
        chunks(n, par, [&](ptrdiff_t lo, ptrdiff_t hi) { for (ptrdiff_t i = lo; i < hi; i++) o[i] = std::isnan(x[i]) ? x[i] : std::min(6.0f, std::max(0.0f, x[i])); });
        break;
      case kSigmoid:
        chunks(n, par, [&](ptrdiff_t lo, ptrdiff_t hi) { for (ptrdiff_t i = lo; i < hi; i++) o[i] = 1.0f / (1.0f + std::exp(-x[i])); });
        break;
      case kAbs:
        chunks(n, par, [&](ptrdiff_t lo, ptrdiff_t hi) { for (ptrdiff_t i = lo; i < hi; i++) o[i] = std::fabs(x[i]); });
        break;
      default:
        throw std::runtime_error("unary: unknown op " + std::to_string(op));
    }
  });
}

}  // namespace hemnet

namespace hemnet {

// transpose(x, shape Int32Array, perm Int32Array, out): out = x with axes permuted
// (out axis j is x axis perm[j]), as tfjs's Transpose. Axes of size 1 are
// dropped and axes that stay adjacent merged, so most runs are memcpy's.
napi_value Transpose(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(4, "transpose");
    size_t lx, ls, lp, lo;
    const float* x = args.f32(0, &lx, "transpose");
    const int32_t* shape = args.i32(1, &ls, "transpose");
    const int32_t* perm = args.i32(2, &lp, "transpose");
    float* o = args.f32(3, &lo, "transpose");
    check(ls == lp && lo == lx, "transpose: shape and perm ranks differ, or buffer sizes differ");
    if (lx == 0) return;
    // Input axes kept (size > 1), renumbered; output order as perm.
    std::vector<int> keep(ls, -1);
    std::vector<size_t> dims;
    for (size_t i = 0; i < ls; i++) {
      if (shape[i] > 1) {
        keep[i] = int(dims.size());
        dims.push_back(size_t(shape[i]));
      }
    }
    std::vector<int> order;
    for (size_t j = 0; j < lp; j++) {
      check(perm[j] >= 0 && size_t(perm[j]) < ls, "transpose: bad perm");
      if (keep[size_t(perm[j])] >= 0) order.push_back(keep[size_t(perm[j])]);
    }
    // Merge input axes a, a+1 that appear consecutively in the output order.
    std::vector<size_t> mdims;   // merged input dims
    {
      // Groups: maximal runs in `order` of consecutive input axes.
      std::vector<std::vector<int>> groups;
      for (size_t j = 0; j < order.size(); j++) {
        if (j > 0 && order[j] == order[j - 1] + 1) groups.back().push_back(order[j]);
        else groups.push_back({order[j]});
      }
      // Number the groups in input order.
      std::vector<size_t> byFirst(groups.size());
      for (size_t g = 0; g < groups.size(); g++) byFirst[g] = g;
      std::sort(byFirst.begin(), byFirst.end(), [&](size_t a, size_t b) { return groups[a].front() < groups[b].front(); });
      std::vector<int> inputIndex(groups.size());
      mdims.resize(groups.size());
      for (size_t k = 0; k < byFirst.size(); k++) {
        inputIndex[byFirst[k]] = int(k);
        size_t d = 1;
        for (int a : groups[byFirst[k]]) d *= dims[size_t(a)];
        mdims[k] = d;
      }
      order.assign(groups.size(), 0);
      for (size_t g = 0; g < groups.size(); g++) order[g] = inputIndex[g];
    }
    const size_t rank = mdims.size();
    if (rank <= 1) {
      std::copy(x, x + lx, o);
      return;
    }
    std::vector<size_t> istride(rank);
    istride[rank - 1] = 1;
    for (size_t k = rank - 1; k-- > 0;) istride[k] = istride[k + 1] * mdims[k + 1];
    std::vector<size_t> odims(rank), ostride(rank);
    for (size_t j = 0; j < rank; j++) {
      odims[j] = mdims[size_t(order[j])];
      ostride[j] = istride[size_t(order[j])];  // input stride of output axis j
    }
    const size_t inner = odims[rank - 1];
    const size_t innerStride = ostride[rank - 1];
    const size_t rows = lx / inner;
    chunks(ptrdiff_t(rows), lx >= kParallelMin, [&](ptrdiff_t r0, ptrdiff_t r1) {
      for (size_t row = size_t(r0); row < size_t(r1); row++) {
        size_t rest = row, off = 0;
        for (size_t k = rank - 1; k-- > 0;) {
          off += (rest % odims[k]) * ostride[k];
          rest /= odims[k];
        }
        float* out = o + row * inner;
        const float* in = x + off;
        if (innerStride == 1) std::copy(in, in + inner, out);
        else for (size_t i = 0; i < inner; i++) out[i] = in[i * innerStride];
      }
    });
  });
}

}  // namespace hemnet
