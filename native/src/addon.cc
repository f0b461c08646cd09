// hemnet native addon: module registration. Kernels live one family per file.
#include "common.h"
#include <cstdlib>
#include <omp.h>
#include <dnnl.hpp>

namespace hemnet {

napi_value Info(napi_env env, napi_callback_info) {
  const dnnl_version_t* v = dnnl_version();
  std::string text = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
                     ", OpenBLAS, OpenMP threads " + std::to_string(configuredThreads()) +
                     (HEMNET_HAS_MXCSR != 0 && gFlushDenormals.load(std::memory_order_relaxed) ? ", denormals flushed to zero" : ", denormals kept");
  napi_value result;
  napi_create_string_utf8(env, text.c_str(), text.size(), &result);
  return result;
}

// threads(n, parallelWork): n > 0 sets the threads of the addon's parallel
// kernels (oneDNN, OpenBLAS, hemnet's OpenMP loops); parallelWork > 0 the
// work below which a kernel stays on one thread (common.h). Returns
// [threads, parallelWork] in effect.
napi_value Threads(napi_env env, napi_callback_info info) {
  double n = 0, work = 0;
  try {
    Args args(env, info);
    args.need(2, "threads");
    n = args.number(0);
    work = args.number(1);
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
    return nullptr;
  }
  if (n >= 1) {
    gThreads.store(int(n), std::memory_order_relaxed);
    omp_set_num_threads(int(n));
  }
  if (n >= 1) applyFlushToPool();  // threads the pool may have gained
  if (work > 0) gParallelWork.store(work, std::memory_order_relaxed);
  napi_value result, threads, threshold;
  napi_create_array_with_length(env, 2, &result);
  napi_create_int32(env, configuredThreads(), &threads);
  napi_create_double(env, gParallelWork.load(std::memory_order_relaxed), &threshold);
  napi_set_element(env, result, 0, threads);
  napi_set_element(env, result, 1, threshold);
  return result;
}

// flushDenormals(mode): mode 1 flushes subnormal floats to zero in the
// addon's kernels, 0 keeps them (IEEE), -1 only asks. Returns whether the
// flush is in effect (always false where the CPU has no MXCSR).
napi_value FlushDenormals(napi_env env, napi_callback_info info) {
  double mode = -1;
  try {
    Args args(env, info);
    args.need(1, "flushDenormals");
    mode = args.number(0);
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
    return nullptr;
  }
  if (mode == 0 || mode == 1) {
    gFlushDenormals.store(mode == 1, std::memory_order_relaxed);
    applyFlushToPool();
  }
  napi_value result;
  napi_get_boolean(env, HEMNET_HAS_MXCSR != 0 && gFlushDenormals.load(std::memory_order_relaxed), &result);
  return result;
}

// Every exported function runs with the flush bits of gFlushDenormals on the calling thread.
template <napi_callback F>
napi_value Flushed(napi_env env, napi_callback_info info) {
  ScopedFlushDenormals flush;
  return F(env, info);
}

}  // namespace hemnet

static napi_value Init(napi_env env, napi_value exports) {
  struct Entry {
    const char* name;
    napi_callback fn;
  };
  const Entry entries[] = {
      {"conv2d", hemnet::Flushed<hemnet::Conv2d>},       {"matMul", hemnet::Flushed<hemnet::MatMul>},
      {"binary", hemnet::Flushed<hemnet::Binary>},       {"unary", hemnet::Flushed<hemnet::Unary>},
      {"preluGrad", hemnet::Flushed<hemnet::PreluGrad>},
      {"reduce", hemnet::Flushed<hemnet::Reduce>},       {"batchNorm", hemnet::Flushed<hemnet::BatchNorm>},
      {"softmax", hemnet::Flushed<hemnet::Softmax>},     {"resizeBilinear", hemnet::Flushed<hemnet::ResizeBilinear>},
      {"resizeBilinearGrad", hemnet::Flushed<hemnet::ResizeBilinearGrad>}, {"adam", hemnet::Flushed<hemnet::Adam>},
      {"movingAverage", hemnet::Flushed<hemnet::MovingAverage>},
      {"transpose", hemnet::Flushed<hemnet::Transpose>},
      {"batchNormTrain", hemnet::Flushed<hemnet::BatchNormTrain>}, {"batchNormTrainGrad", hemnet::Flushed<hemnet::BatchNormTrainGrad>},
      {"hemUnroll", hemnet::Flushed<hemnet::HemUnroll>}, {"hemUnrollGrad", hemnet::Flushed<hemnet::HemUnrollGrad>},
      {"softmaxCrossEntropy", hemnet::Flushed<hemnet::SoftmaxCrossEntropy>},
      {"info", hemnet::Flushed<hemnet::Info>},           {"threads", hemnet::Flushed<hemnet::Threads>},
      {"sumSquares", hemnet::Flushed<hemnet::SumSquares>}, {"pool", hemnet::Flushed<hemnet::Pool>},
      {"flushDenormals", hemnet::Flushed<hemnet::FlushDenormals>},
  };
  const char* flush = std::getenv("HEMNET_FLUSH_DENORMALS");
  hemnet::gFlushDenormals.store(!(flush != nullptr && std::string(flush) == "0"), std::memory_order_relaxed);
  hemnet::applyFlushToPool();
  for (const Entry& e : entries) {
    napi_value fn;
    napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, nullptr, &fn);
    napi_set_named_property(env, exports, e.name, fn);
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
