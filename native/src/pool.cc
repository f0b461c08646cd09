// 2-D max and average pooling of NHWC images and their gradients, with the
// semantics of tfjs's cpu kernels (written out in src/kernels/pooling.ts,
// which runs the same arithmetic in JS on wasm):
// max: strict '>' from -inf (NaN never wins); its gradient goes to the first
// position of the window, in row-major order, that holds the maximum;
// avg: the mean over the window's positions inside the image (float64 sum);
// its gradient: dy / (filterH * filterW) to every such position.
#include "common.h"
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

namespace hemnet {

namespace {

struct PoolGeometry {
  int B, H, W, C, outH, outW, strideH, strideW, filterH, filterW, padTop, padLeft;
};

// visit(o, r0, r1, c0, c1, b) for every output pixel of batches [b0, b1):
// o its first output element, the window clipped to the image.
template <typename F>
void forEachWindow(const PoolGeometry& g, int b0, int b1, F visit) {
  for (int b = b0; b < b1; b++) {
    for (int oy = 0; oy < g.outH; oy++) {
      const int rowCorner = oy * g.strideH - g.padTop;
      const int r0 = std::max(0, rowCorner), r1 = std::min(g.H, rowCorner + g.filterH);
      for (int ox = 0; ox < g.outW; ox++) {
        const int colCorner = ox * g.strideW - g.padLeft;
        const size_t o = ((size_t(b) * g.outH + oy) * g.outW + ox) * g.C;
        visit(o, r0, r1, std::max(0, colCorner), std::min(g.W, colCorner + g.filterW), b);
      }
    }
  }
}

}  // namespace

// pool(mode, a, b, out, params Int32Array[12] = B, H, W, C, outH, outW, strideH, strideW, filterH, filterW, padTop, padLeft)
// mode 0: max pool (a = x, b unused), 1: its gradient (a = x, b = dy, out = dx),
//      2: average pool (a = x),       3: its gradient (a = dy, out = dx).
napi_value Pool(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(5, "pool");
    const int mode = args.integer(0);
    check(mode >= 0 && mode <= 3, "pool: mode must be 0–3");
    size_t la, lb = 0, lo, lp;
    const float* a = args.f32(1, &la, "pool");
    const float* dy = mode == 1 ? args.f32(2, &lb, "pool") : nullptr;
    float* out = args.f32(3, &lo, "pool");
    const int32_t* p = args.i32(4, &lp, "pool");
    check(lp == 12, "pool: params must have 12 entries");
    const PoolGeometry g{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11]};
    check(g.B >= 0 && g.H >= 0 && g.W >= 0 && g.C >= 0 && g.outH >= 0 && g.outW >= 0 && g.strideH > 0 && g.strideW > 0 &&
              g.filterH > 0 && g.filterW > 0,
          "pool: invalid geometry");
    const size_t inSize = size_t(g.B) * g.H * g.W * g.C, outSize = size_t(g.B) * g.outH * g.outW * g.C;
    const int C = g.C, W = g.W, H = g.H;
    const bool parallel = inSize >= (1 << 20) && g.B > 1;
    switch (mode) {
      case 0:
        check(la == inSize && lo == outSize, "pool: buffer sizes do not match the geometry");
        chunks(g.B, parallel, [&](ptrdiff_t b0, ptrdiff_t b1) {
          forEachWindow(g, int(b0), int(b1), [&](size_t o, int r0, int r1, int c0, int c1, int b) {
            float* y = out + o;
            std::fill(y, y + C, -std::numeric_limits<float>::infinity());
            for (int r = r0; r < r1; r++)
              for (int c = c0; c < c1; c++) {
                const float* v = a + ((size_t(b) * H + r) * W + c) * C;
                for (int d = 0; d < C; d++) y[d] = v[d] > y[d] ? v[d] : y[d];
              }
          });
        });
        break;
      case 1:
        check(la == inSize && lb == outSize && lo == inSize, "pool: buffer sizes do not match the geometry");
        std::memset(out, 0, inSize * sizeof(float));
        chunks(g.B, parallel, [&](ptrdiff_t b0, ptrdiff_t b1) {
          std::vector<float> best(static_cast<size_t>(C));
          std::vector<ptrdiff_t> at(static_cast<size_t>(C));
          forEachWindow(g, int(b0), int(b1), [&](size_t o, int r0, int r1, int c0, int c1, int b) {
            std::fill(best.begin(), best.end(), -std::numeric_limits<float>::infinity());
            std::fill(at.begin(), at.end(), ptrdiff_t(-1));
            for (int r = r0; r < r1; r++)
              for (int c = c0; c < c1; c++) {
                const ptrdiff_t base = ptrdiff_t(((size_t(b) * H + r) * W + c) * C);
                const float* v = a + base;
                for (int d = 0; d < C; d++) {  // branch-free: random data mispredicts half the time
                  const bool greater = v[d] > best[d];
                  best[d] = greater ? v[d] : best[d];
                  at[d] = greater ? base + d : at[d];
                }
              }
            for (int d = 0; d < C; d++)
              if (at[d] >= 0) out[at[d]] += dy[o + d];
          });
        });
        break;
      case 2:
        check(la == inSize && lo == outSize, "pool: buffer sizes do not match the geometry");
        chunks(g.B, parallel, [&](ptrdiff_t b0, ptrdiff_t b1) {
          std::vector<double> sum(static_cast<size_t>(C));
          forEachWindow(g, int(b0), int(b1), [&](size_t o, int r0, int r1, int c0, int c1, int b) {
            std::fill(sum.begin(), sum.end(), 0.0);
            for (int r = r0; r < r1; r++)
              for (int c = c0; c < c1; c++) {
                const float* v = a + ((size_t(b) * H + r) * W + c) * C;
                for (int d = 0; d < C; d++) sum[d] += v[d];
              }
            const double count = double(r1 - r0) * double(c1 - c0);
            for (int d = 0; d < C; d++) out[o + d] = float(sum[d] / count);
          });
        });
        break;
      default: {
        check(la == outSize && lo == inSize, "pool: buffer sizes do not match the geometry");
        std::memset(out, 0, inSize * sizeof(float));
        chunks(g.B, parallel, [&](ptrdiff_t b0, ptrdiff_t b1) {
          forEachWindow(g, int(b0), int(b1), [&](size_t o, int r0, int r1, int c0, int c1, int b) {
            const float* grad = a + o;
            for (int r = r0; r < r1; r++)
              for (int c = c0; c < c1; c++) {
                float* v = out + ((size_t(b) * H + r) * W + c) * C;
                for (int d = 0; d < C; d++) v[d] += grad[d];
              }
          });
        });
        const float scale = 1.0f / float(g.filterH * g.filterW);
        for (size_t i = 0; i < inSize; i++) out[i] *= scale;
      }
    }
  });
}

}  // namespace hemnet
