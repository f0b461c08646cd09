// 2-D convolution (NHWC activations, HWIO filters, as tfjs stores them) and
// its two gradients on oneDNN. Primitives are created once per geometry and
// cached; activations are used in place (zero copy), filters are reordered
// to the layout oneDNN prefers when it differs from HWIO.
#include "common.h"
#include <dnnl.hpp>
#include <memory>
#include <mutex>
#include <algorithm>
#include <unordered_map>
#include <vector>

namespace hemnet {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine& engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}
// One stream and one plan cache per thread: worker_threads (data-parallel
// training) call the addon concurrently, and a plan's scratch weights and
// the cache itself must not be shared between them.
dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

enum Kind { kForward = 0, kBackwardData = 1, kBackwardWeights = 2 };

struct Geometry {
  int N, H, W, Ci, Ho, Wo, Co, KH, KW, sh, sw, dh, dw, pt, pl, pb, pr;
};

struct Plan {
  dnnl::primitive prim;
  memory::desc act;      // src (fwd, bwd-w) or diff_dst (bwd-d), NHWC
  memory::desc out;      // dst (fwd), diff_src (bwd-d), NHWC; unused for bwd-w
  memory::desc userW;    // HWIO as tfjs stores it
  memory::desc primW;    // the layout the primitive wants
  memory::desc second;   // diff_dst for bwd-w
  bool reorderW = false;
  std::unique_ptr<dnnl::reorder> toPrim;   // user → prim (fwd, bwd-d)
  std::unique_ptr<dnnl::reorder> toUser;   // prim → user (bwd-w)
  std::unique_ptr<memory> scratchW;        // weights in the primitive's layout
};

std::unordered_map<std::string, std::unique_ptr<Plan>>& plans() {
  thread_local std::unordered_map<std::string, std::unique_ptr<Plan>> map;
  return map;
}

// Multiply-adds of the convolution (the same for its two gradients).
double macsOf(const Geometry& g) {
  return double(g.N) * g.Ho * g.Wo * g.Co * g.KH * g.KW * g.Ci;
}

// oneDNN fixes a primitive's thread count when it is created (its jit
// kernels split the work for it), so plans are keyed by the thread count.
std::string keyOf(int kind, const Geometry& g, int threads) {
  const int* p = &g.N;
  std::string key = std::to_string(kind) + "@" + std::to_string(threads);
  for (int i = 0; i < 17; i++) key += "," + std::to_string(p[i]);
  return key;
}

// The plan for this geometry on `threads` threads; call inside OmpThreads(threads).
Plan* planFor(int kind, const Geometry& g, int threads) {
  std::string key = keyOf(kind, g, threads);
  auto found = plans().find(key);
  if (found != plans().end()) return found->second.get();
  auto& eng = engine();
  memory::dims src = {g.N, g.Ci, g.H, g.W};
  memory::dims wts = {g.Co, g.Ci, g.KH, g.KW};
  memory::dims dst = {g.N, g.Co, g.Ho, g.Wo};
  memory::dims strides = {g.sh, g.sw};
  memory::dims dil = {g.dh - 1, g.dw - 1};
  memory::dims padL = {g.pt, g.pl};
  memory::dims padR = {g.pb, g.pr};
  memory::desc srcMd(src, dt::f32, tag::nhwc);
  memory::desc dstMd(dst, dt::f32, tag::nhwc);
  memory::desc anyW(wts, dt::f32, tag::any);
  memory::desc userW(wts, dt::f32, tag::hwio);
  dnnl::convolution_forward::desc fwdDesc(kind == kForward ? dnnl::prop_kind::forward_inference : dnnl::prop_kind::forward_training,
                                          dnnl::algorithm::convolution_direct, srcMd, anyW, dstMd, strides, dil, padL, padR);
  dnnl::convolution_forward::primitive_desc fwdPd(fwdDesc, eng);
  auto plan = std::make_unique<Plan>();
  plan->userW = userW;
  if (kind == kForward) {
    plan->prim = dnnl::convolution_forward(fwdPd);
    plan->act = srcMd;
    plan->out = dstMd;
    plan->primW = fwdPd.weights_desc();
  } else if (kind == kBackwardData) {
    dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, srcMd, anyW, dstMd, strides, dil, padL, padR);
    dnnl::convolution_backward_data::primitive_desc pd(d, eng, fwdPd);
    plan->prim = dnnl::convolution_backward_data(pd);
    plan->act = dstMd;
    plan->out = srcMd;
    plan->primW = pd.weights_desc();
  } else {
    dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, srcMd, anyW, dstMd, strides, dil, padL, padR);
    dnnl::convolution_backward_weights::primitive_desc pd(d, eng, fwdPd);
    plan->prim = dnnl::convolution_backward_weights(pd);
    plan->act = srcMd;
    plan->second = dstMd;
    plan->primW = pd.diff_weights_desc();
  }
  plan->reorderW = plan->primW != userW;
  if (plan->reorderW) {
    plan->scratchW = std::make_unique<memory>(plan->primW, eng);
    if (kind == kBackwardWeights) {
      plan->toUser = std::make_unique<dnnl::reorder>(dnnl::reorder::primitive_desc(eng, plan->primW, eng, userW));
    } else {
      plan->toPrim = std::make_unique<dnnl::reorder>(dnnl::reorder::primitive_desc(eng, userW, eng, plan->primW));
    }
  }
  Plan* raw = plan.get();
  plans().emplace(key, std::move(plan));
  return raw;
}

}  // namespace

// conv2d(kind, a, b, out, geometry Int32Array[17])
//   kind 0: out y  = conv(a = x,  b = w)
//   kind 1: out dx = conv_bwd_data(a = dy, b = w)
//   kind 2: out dw = conv_bwd_weights(a = x, b = dy)
napi_value Conv2d(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(5, "conv2d");
    int kind = args.integer(0);
    size_t la, lb, lo, lg;
    float* a = args.f32(1, &la, "conv2d");
    float* b = args.f32(2, &lb, "conv2d");
    float* out = args.f32(3, &lo, "conv2d");
    const int32_t* gp = args.i32(4, &lg, "conv2d");
    check(lg == 17, "conv2d: geometry must have 17 entries");
    Geometry g;
    int* gi = &g.N;
    for (int i = 0; i < 17; i++) gi[i] = gp[i];
    size_t x = size_t(g.N) * g.H * g.W * g.Ci, y = size_t(g.N) * g.Ho * g.Wo * g.Co, w = size_t(g.KH) * g.KW * g.Ci * g.Co;
    size_t ea = kind == kBackwardData ? y : x, eb = kind == kBackwardWeights ? y : w, eo = kind == kForward ? y : kind == kBackwardData ? x : w;
    check(la == ea && lb == eb && lo == eo, "conv2d: buffer sizes do not match the geometry");
    // The filter gradient of a strided 1×1 convolution without padding is the
    // unit-stride one of the subsampled input: oneDNN's strided 1×1 filter
    // gradient (its reduce-to-unit-stride path) wrote past its buffers on an
    // AMD EPYC (glibc heap corruption in the op suite), so the input is
    // subsampled here and the unit-stride primitive runs.
    std::vector<float> subsampled;
    if (kind == kBackwardWeights && g.KH == 1 && g.KW == 1 && (g.sh > 1 || g.sw > 1) && g.pt == 0 && g.pl == 0) {
      subsampled.resize(size_t(g.N) * g.Ho * g.Wo * g.Ci);
      for (int n = 0; n < g.N; n++)
        for (int i = 0; i < g.Ho; i++)
          for (int j = 0; j < g.Wo; j++)
            std::copy_n(a + ((size_t(n) * g.H + size_t(i) * g.sh) * g.W + size_t(j) * g.sw) * g.Ci, g.Ci,
                        subsampled.data() + ((size_t(n) * g.Ho + i) * g.Wo + j) * g.Ci);
      a = subsampled.data();
      g.H = g.Ho;
      g.W = g.Wo;
      g.sh = g.sw = 1;
      g.pb = g.pr = 0;
    }
    // Small convolutions run on the calling thread alone (threadsFor, common.h).
    const int threads = threadsFor(macsOf(g));
    OmpThreads scope(threads);
    Plan* plan = planFor(kind, g, threads);
    auto& eng = engine();
    auto& s = stream();
    if (kind == kForward || kind == kBackwardData) {
      memory act(plan->act, eng, a);
      memory result(plan->out, eng, out);
      memory user(plan->userW, eng, b);
      memory* wts = &user;
      if (plan->reorderW) {
        plan->toPrim->execute(s, user, *plan->scratchW);
        wts = plan->scratchW.get();
      }
      if (kind == kForward) {
        plan->prim.execute(s, {{DNNL_ARG_SRC, act}, {DNNL_ARG_WEIGHTS, *wts}, {DNNL_ARG_DST, result}});
      } else {
        plan->prim.execute(s, {{DNNL_ARG_DIFF_DST, act}, {DNNL_ARG_WEIGHTS, *wts}, {DNNL_ARG_DIFF_SRC, result}});
      }
    } else {
      memory src(plan->act, eng, a);
      memory diffDst(plan->second, eng, b);
      memory user(plan->userW, eng, out);
      memory* wts = plan->reorderW ? plan->scratchW.get() : &user;
      plan->prim.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_DIFF_WEIGHTS, *wts}});
      if (plan->reorderW) plan->toUser->execute(s, *plan->scratchW, user);
    }
    s.wait();
  });
}

}  // namespace hemnet
