// Shared helpers of the hemnet native addon: argument access for Node-API
// (zero-copy views of Float32Array / Int32Array arguments) and errors.
#pragma once
#include <node_api.h>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <omp.h>
#include <atomic>
#include <cblas.h>

namespace hemnet {

// Threads of the addon's parallel work (threads(), addon.cc): the configured
// count and the work (multiply-adds, or elements for a streaming kernel)
// below which a kernel runs on the calling thread alone. On the 2-vCPU
// machines measured (docs/performance.md), handing a small oneDNN or
// OpenBLAS call to a second thread cost more than it saved (a filter
// gradient of 38 MFLOP: 0.16 ms on 1 thread, 1.5–4 ms on 2 when the other
// vCPU was busy: both libraries' barriers wait for the descheduled thread).
inline std::atomic<int> gThreads{0};              // 0: not set yet (omp_get_max_threads() at first use)
inline std::atomic<double> gParallelWork{double(1 << 27)};

inline int configuredThreads() {
  int n = gThreads.load(std::memory_order_relaxed);
  if (n <= 0) {
    n = omp_get_max_threads();
    gThreads.store(n, std::memory_order_relaxed);
  }
  return n;
}
// Threads for a kernel of `work` multiply-adds.
inline int threadsFor(double work) {
  return work >= gParallelWork.load(std::memory_order_relaxed) ? configuredThreads() : 1;
}
// The calling thread's OpenMP regions use n threads while this lives.
struct OmpThreads {
  int saved;
  explicit OmpThreads(int n) : saved(omp_get_max_threads()) {
    if (n != saved) omp_set_num_threads(n);
  }
  ~OmpThreads() {
    if (omp_get_max_threads() != saved) omp_set_num_threads(saved);
  }
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;
};
// OpenBLAS's thread count is process-wide: set only when it changes.
inline void blasThreads(int n) {
  static std::atomic<int> current{0};
  if (current.exchange(n, std::memory_order_relaxed) != n) openblas_set_num_threads(n);
}
// Row-major C = alpha·op(A)·op(B) + beta·C on OpenBLAS, threaded by size (threadsFor).
inline void sgemm(bool tA, bool tB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb, float beta,
                  float* C, int ldc) {
  blasThreads(threadsFor(double(M) * N * K));
  cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
              ldc);
}

// Denormal (subnormal) floats, |x| < 1.18e-38, cost x86 cores 10-100x per
// operation. They appear when a softmax saturates, e.g. the responsibilities
// of collapsed EM bases, and then slow every kernel reading them: an EMANet
// head on attention-bench trained 5x slower after step ~1500
// (docs/performance.md, "Denormals"). Like TensorFlow's CPU runtime, the
// addon flushes them to zero by default (MXCSR FTZ + DAZ): results that
// would be subnormal become ±0, subnormal inputs read as ±0.
// HEMNET_FLUSH_DENORMALS=0 (or flushDenormals(0)) keeps IEEE subnormals.
// The calling (JS) thread gets the bits only for the duration of an addon
// call (ScopedFlushDenormals), so JavaScript's own arithmetic is untouched;
// the OpenMP pool's threads keep them (applyFlushToPool). OpenBLAS's own
// threads, used only for products above parallelWork, are not covered.
#if defined(__x86_64__) || defined(__SSE__)
#define HEMNET_HAS_MXCSR 1
#include <xmmintrin.h>
#else
#define HEMNET_HAS_MXCSR 0
#endif
inline std::atomic<bool> gFlushDenormals{true};
constexpr unsigned kFlushDenormalBits = 0x8040;  // FTZ (bit 15) | DAZ (bit 6)

struct ScopedFlushDenormals {
#if HEMNET_HAS_MXCSR
  unsigned saved = 0;
  bool active;
  ScopedFlushDenormals() : active(gFlushDenormals.load(std::memory_order_relaxed)) {
    if (!active) return;
    saved = _mm_getcsr();
    _mm_setcsr(saved | kFlushDenormalBits);
  }
  ~ScopedFlushDenormals() {
    if (active) _mm_setcsr(saved);
  }
#endif
  ScopedFlushDenormals(const ScopedFlushDenormals&) = delete;
  ScopedFlushDenormals& operator=(const ScopedFlushDenormals&) = delete;
};

// Sets (or clears) the flush bits on every thread of the OpenMP pool.
inline void applyFlushToPool() {
#if HEMNET_HAS_MXCSR
  const bool on = gFlushDenormals.load(std::memory_order_relaxed);
  const int n = configuredThreads();
#pragma omp parallel num_threads(n)
  {
    if (omp_get_thread_num() != 0) {
      const unsigned csr = _mm_getcsr();
      _mm_setcsr(on ? (csr | kFlushDenormalBits) : (csr & ~kFlushDenormalBits));
    }
  }
#endif
}

struct Args {
  napi_env env;
  size_t argc = 0;
  napi_value argv[12];
  Args(napi_env e, napi_callback_info info) : env(e) {
    argc = 12;
    napi_get_cb_info(e, info, &argc, argv, nullptr, nullptr);
  }
  void need(size_t n, const char* fn) const {
    if (argc < n) throw std::runtime_error(std::string(fn) + ": expected " + std::to_string(n) + " arguments, received " + std::to_string(argc));
  }
  template <typename T>
  T* typed(size_t i, napi_typedarray_type want, size_t* length, const char* fn) const {
    bool is = false;
    napi_is_typedarray(env, argv[i], &is);
    if (!is) throw std::runtime_error(std::string(fn) + ": argument " + std::to_string(i) + " must be a typed array");
    napi_typedarray_type type;
    size_t len = 0;
    void* data = nullptr;
    napi_value buffer;
    size_t offset = 0;
    napi_get_typedarray_info(env, argv[i], &type, &len, &data, &buffer, &offset);
    if (type != want) throw std::runtime_error(std::string(fn) + ": argument " + std::to_string(i) + " has the wrong typed-array type");
    if (length != nullptr) *length = len;
    return static_cast<T*>(data);
  }
  float* f32(size_t i, size_t* length, const char* fn) const { return typed<float>(i, napi_float32_array, length, fn); }
  const int32_t* i32(size_t i, size_t* length, const char* fn) const { return typed<int32_t>(i, napi_int32_array, length, fn); }
  int32_t integer(size_t i) const {
    int32_t v = 0;
    napi_get_value_int32(env, argv[i], &v);
    return v;
  }
  double number(size_t i) const {
    double v = 0;
    napi_get_value_double(env, argv[i], &v);
    return v;
  }
};

// Wraps a kernel body: C++ exceptions become JS errors.
template <typename F>
napi_value guarded(napi_env env, napi_callback_info info, F body) {
  try {
    Args args(env, info);
    body(args);
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

// Runs body(begin, end) over [0, n): split across OpenMP threads when
// `parallel`, else directly (an OpenMP region, even a serial one, costs
// microseconds, more than a small kernel).
template <typename F>
inline void chunks(ptrdiff_t n, bool parallel, F body) {
  if (!parallel || n < 2) {
    body(ptrdiff_t(0), n);
    return;
  }
#pragma omp parallel
  {
    const ptrdiff_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    body(n * t / nt, n * (t + 1) / nt);
  }
}

inline void check(bool ok, const std::string& message) {
  if (!ok) throw std::runtime_error(message);
}

// Kernel entry points, one family per source file.
napi_value Conv2d(napi_env env, napi_callback_info info);
napi_value MatMul(napi_env env, napi_callback_info info);
napi_value Binary(napi_env env, napi_callback_info info);
napi_value Unary(napi_env env, napi_callback_info info);
napi_value PreluGrad(napi_env env, napi_callback_info info);
napi_value Reduce(napi_env env, napi_callback_info info);
napi_value SumSquares(napi_env env, napi_callback_info info);
napi_value BatchNorm(napi_env env, napi_callback_info info);
napi_value Softmax(napi_env env, napi_callback_info info);
napi_value ResizeBilinear(napi_env env, napi_callback_info info);
napi_value ResizeBilinearGrad(napi_env env, napi_callback_info info);
napi_value Transpose(napi_env env, napi_callback_info info);
napi_value MovingAverage(napi_env env, napi_callback_info info);
napi_value Adam(napi_env env, napi_callback_info info);
napi_value BatchNormTrain(napi_env env, napi_callback_info info);
napi_value BatchNormTrainGrad(napi_env env, napi_callback_info info);
napi_value HemUnroll(napi_env env, napi_callback_info info);
napi_value HemUnrollGrad(napi_env env, napi_callback_info info);
napi_value SoftmaxCrossEntropy(napi_env env, napi_callback_info info);
napi_value Pool(napi_env env, napi_callback_info info);
napi_value Info(napi_env env, napi_callback_info info);
napi_value Threads(napi_env env, napi_callback_info info);

}  // namespace hemnet
