// hemnet native addon: module registration. Kernels live one family per file.
#include "common.h"
#include <omp.h>
#include <dnnl.hpp>

namespace hemnet {

napi_value Info(napi_env env, napi_callback_info) {
  const dnnl_version_t* v = dnnl_version();
  std::string text = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
                     ", OpenBLAS, OpenMP threads " + std::to_string(configuredThreads());
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
  if (work > 0) gParallelWork.store(work, std::memory_order_relaxed);
  napi_value result, threads, threshold;
  napi_create_array_with_length(env, 2, &result);
  napi_create_int32(env, configuredThreads(), &threads);
  napi_create_double(env, gParallelWork.load(std::memory_order_relaxed), &threshold);
  napi_set_element(env, result, 0, threads);
  napi_set_element(env, result, 1, threshold);
  return result;
}

}  // namespace hemnet

static napi_value Init(napi_env env, napi_value exports) {
  struct Entry {
    const char* name;
    napi_callback fn;
  };
  const Entry entries[] = {
      {"conv2d", hemnet::Conv2d},       {"matMul", hemnet::MatMul},
      {"binary", hemnet::Binary},       {"unary", hemnet::Unary},
      {"preluGrad", hemnet::PreluGrad},
      {"reduce", hemnet::Reduce},       {"batchNorm", hemnet::BatchNorm},
      {"softmax", hemnet::Softmax},     {"resizeBilinear", hemnet::ResizeBilinear},
      {"resizeBilinearGrad", hemnet::ResizeBilinearGrad}, {"adam", hemnet::Adam},
      {"movingAverage", hemnet::MovingAverage},
      {"transpose", hemnet::Transpose},
      {"batchNormTrain", hemnet::BatchNormTrain}, {"batchNormTrainGrad", hemnet::BatchNormTrainGrad},
      {"hemUnroll", hemnet::HemUnroll}, {"hemUnrollGrad", hemnet::HemUnrollGrad},
      {"softmaxCrossEntropy", hemnet::SoftmaxCrossEntropy},
      {"info", hemnet::Info},           {"threads", hemnet::Threads},
      {"sumSquares", hemnet::SumSquares}, {"pool", hemnet::Pool},
  };
  for (const Entry& e : entries) {
    napi_value fn;
    napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, nullptr, &fn);
    napi_set_named_property(env, exports, e.name, fn);
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
