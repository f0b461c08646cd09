// Bilinear resize of NHWC images and its gradient, with exactly the index
// arithmetic of tfjs's cpu kernels (the gradient, like tfjs's cpu and wasm
// ones, honours alignCorners only).
#include "common.h"
#include <omp.h>
#include <algorithm>
#include <cmath>
#include <cstring>

namespace hemnet {

// resizeBilinear(x, out, params Int32Array[7] = B, H, W, C, newH, newW, flags) flags: 1 alignCorners, 2 halfPixelCenters
napi_value ResizeBilinear(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(3, "resizeBilinear");
    size_t lx, lo, lp;
    const float* x = args.f32(0, &lx, "resizeBilinear");
    float* out = args.f32(1, &lo, "resizeBilinear");
    const int32_t* p = args.i32(2, &lp, "resizeBilinear");
    check(lp == 7, "resizeBilinear: params must have 7 entries");
    const int B = p[0], H = p[1], W = p[2], C = p[3], nH = p[4], nW = p[5];
    const bool align = (p[6] & 1) != 0, half = (p[6] & 2) != 0;
    check(lx == size_t(B) * H * W * C && lo == size_t(B) * nH * nW * C, "resizeBilinear: buffer sizes do not match");
    const double rs = double((align && nH > 1) ? H - 1 : H) / double((align && nH > 1) ? nH - 1 : nH);
    const double cs = double((align && nW > 1) ? W - 1 : W) / double((align && nW > 1) ? nW - 1 : nW);
    chunks(ptrdiff_t(B) * nH, lo >= (1 << 20), [&](ptrdiff_t q0, ptrdiff_t q1) {
    for (ptrdiff_t q = q0; q < q1; q++) {
      const int b = int(q / nH), r = int(q % nH);
      {
        const double fr = half ? rs * (r + 0.5) - 0.5 : rs * r;
        const int r0 = std::max(0, int(std::floor(fr)));
        const double rowFrac = fr - r0;
        const int r1 = std::min(H - 1, int(std::ceil(fr)));
        const float* top = x + (size_t(b) * H + r0) * W * C;
        const float* bot = x + (size_t(b) * H + r1) * W * C;
        float* o = out + ((size_t(b) * nH + r) * nW) * C;
        for (int c = 0; c < nW; c++) {
          const double fc = half ? cs * (c + 0.5) - 0.5 : cs * c;
          const int c0 = std::max(0, int(std::floor(fc)));
          const double colFrac = fc - c0;
          const int c1 = std::min(W - 1, int(std::ceil(fc)));
          const float *tl = top + size_t(c0) * C, *tr = top + size_t(c1) * C, *bl = bot + size_t(c0) * C, *br = bot + size_t(c1) * C;
          const float cf = float(colFrac), rf = float(rowFrac);
          for (int d = 0; d < C; d++) {
            const float t = tl[d] + (tr[d] - tl[d]) * cf;
            const float u = bl[d] + (br[d] - bl[d]) * cf;
            o[size_t(c) * C + d] = t + (u - t) * rf;
          }
        }
      }
    }
    });
  });
}

// resizeBilinearGrad(dy, dx, params Int32Array[7] = B, xH, xW, C, yH, yW, flags)
napi_value ResizeBilinearGrad(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(3, "resizeBilinearGrad");
    size_t ly, lo, lp;
    const float* dy = args.f32(0, &ly, "resizeBilinearGrad");
    float* dx = args.f32(1, &lo, "resizeBilinearGrad");
    const int32_t* p = args.i32(2, &lp, "resizeBilinearGrad");
    check(lp == 7, "resizeBilinearGrad: params must have 7 entries");
    const int B = p[0], xH = p[1], xW = p[2], C = p[3], yH = p[4], yW = p[5];
    const bool align = (p[6] & 1) != 0;
    check(lo == size_t(B) * xH * xW * C && ly == size_t(B) * yH * yW * C, "resizeBilinearGrad: buffer sizes do not match");
    std::memset(dx, 0, lo * sizeof(float));
    const double hs = double((align && yH > 1) ? xH - 1 : xH) / double((align && yH > 1) ? yH - 1 : yH);
    const double ws = double((align && yW > 1) ? xW - 1 : xW) / double((align && yW > 1) ? yW - 1 : yW);
    // Parallel over the batch: images do not share output rows.
    chunks(B, ly >= (1 << 20), [&](ptrdiff_t b0, ptrdiff_t b1) {
    for (int b = int(b0); b < int(b1); b++) {
      const float* g = dy + size_t(b) * yH * yW * C;
      float* o = dx + size_t(b) * xH * xW * C;
      for (int r = 0; r < yH; r++) {
        const double fr = r * hs;
        const int top = int(std::floor(fr));
        const int bottom = std::min(int(std::ceil(fr)), xH - 1);
        const double rl = fr - top, irl = 1.0 - rl;
        for (int c = 0; c < yW; c++) {
          const double fc = c * ws;
          const int left = int(std::floor(fc));
          const int right = std::min(int(std::ceil(fc)), xW - 1);
          const double cl = fc - left, icl = 1.0 - cl;
          const float wtl = float(irl * icl), wtr = float(irl * cl), wbl = float(rl * icl), wbr = float(rl * cl);
          float* otl = o + (size_t(top) * xW + left) * C;
          float* otr = o + (size_t(top) * xW + right) * C;
          float* obl = o + (size_t(bottom) * xW + left) * C;
          float* obr = o + (size_t(bottom) * xW + right) * C;
          const float* gv = g + (size_t(r) * yW + c) * C;
          for (int d = 0; d < C; d++) {
            const float v = gv[d];
            otl[d] += v * wtl;
            otr[d] += v * wtr;
            obl[d] += v * wbl;
            obr[d] += v * wbr;
          }
        }
      }
    }
    });
  });
}

}  // namespace hemnet
