// Batched matrix products on OpenBLAS sgemm, with tfjs's BatchMatMul
// semantics: batch dimensions of 1 broadcast, transposes by flags.
#include "common.h"
#include <algorithm>

namespace hemnet {

// matMul(a, b, out, params Int32Array[7] = batchA, batchB, M, K, N, transA, transB)
// a: batchA × (transA ? [K, M] : [M, K]); b: batchB × (transB ? [N, K] : [K, N]);
// out: max(batchA, batchB) × [M, N].
napi_value MatMul(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(4, "matMul");
    size_t la, lb, lo, lp;
    const float* a = args.f32(0, &la, "matMul");
    const float* b = args.f32(1, &lb, "matMul");
    float* out = args.f32(2, &lo, "matMul");
    const int32_t* p = args.i32(3, &lp, "matMul");
    check(lp == 7, "matMul: params must have 7 entries");
    const int batchA = p[0], batchB = p[1], M = p[2], K = p[3], N = p[4];
    const bool tA = p[5] != 0, tB = p[6] != 0;
    const int batch = std::max(batchA, batchB);
    check(la == size_t(batchA) * M * K && lb == size_t(batchB) * K * N && lo == size_t(batch) * M * N,
          "matMul: buffer sizes do not match the shapes");
    if (K == 0) {
      std::fill(out, out + lo, 0.0f);
      return;
    }
    const int lda = tA ? M : K, ldb = tB ? K : N;
    for (int i = 0; i < batch; i++) {
      const float* ai = a + size_t(i % batchA) * M * K;
      const float* bi = b + size_t(i % batchB) * K * N;
      sgemm(tA, tB, M, N, K, 1.0f, ai, lda, bi, ldb, 0.0f, out + size_t(i) * M * N, N);
    }
  });
}

}  // namespace hemnet
