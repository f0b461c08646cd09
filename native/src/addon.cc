// hemnet native addon: module registration. Kernels live one family per file.
#include "common.h"
#include <omp.h>
#include <dnnl.hpp>

namespace hemnet {

napi_value Info(napi_env env, napi_callback_info) {
  const dnnl_version_t* v = dnnl_version();
  std::string text = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
                     ", OpenBLAS, OpenMP threads " + std::to_string(omp_get_max_threads());
  napi_value result;
  napi_create_string_utf8(env, text.c_str(), text.size(), &result);
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
      {"reduce", hemnet::Reduce},       {"batchNorm", hemnet::BatchNorm},
      {"softmax", hemnet::Softmax},     {"resizeBilinear", hemnet::ResizeBilinear},
      {"resizeBilinearGrad", hemnet::ResizeBilinearGrad}, {"adam", hemnet::Adam},
      {"movingAverage", hemnet::MovingAverage},
      {"transpose", hemnet::Transpose},
      {"batchNormTrain", hemnet::BatchNormTrain}, {"batchNormTrainGrad", hemnet::BatchNormTrainGrad},
      {"hemUnroll", hemnet::HemUnroll}, {"hemUnrollGrad", hemnet::HemUnrollGrad},
      {"softmaxCrossEntropy", hemnet::SoftmaxCrossEntropy},
      {"info", hemnet::Info},
  };
  for (const Entry& e : entries) {
    napi_value fn;
    napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, nullptr, &fn);
    napi_set_named_property(env, exports, e.name, fn);
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
