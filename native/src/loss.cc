// The segmentation loss (src/train/loss.ts): pixel-wise softmax cross-entropy
// with an ignore label, averaged over the scored pixels, as one kernel that
// also writes its gradient with respect to the logits (the backward pass is
// then that gradient times the incoming scalar).
#include "common.h"
#include <algorithm>
#include <cmath>
#include <vector>

namespace hemnet {

// softmaxCrossEntropy(logits [P, K], labels Int32Array [P], loss Float32Array [1], grad [P, K], ignoreLabel)
//   s_p = [label_p ≠ ignore], n = max(Σ s_p, 1);
//   loss = Σ_p s_p·(−log softmax(x_p)[label_p]) / n, grad_pk = s_p·(softmax(x_p)_k − [k = label_p]) / n
//   (a label outside [0, K) counts in n but scores 0 with gradient 0, as tf.oneHot's zero row).
napi_value SoftmaxCrossEntropy(napi_env env, napi_callback_info info) {
  return guarded(env, info, [](Args& args) {
    args.need(5, "softmaxCrossEntropy");
    size_t lx, ll, lloss, lg;
    const float* x = args.f32(0, &lx, "softmaxCrossEntropy");
    const int32_t* labels = args.i32(1, &ll, "softmaxCrossEntropy");
    float* loss = args.f32(2, &lloss, "softmaxCrossEntropy");
    float* grad = args.f32(3, &lg, "softmaxCrossEntropy");
    const int32_t ignore = args.integer(4);
    check(ll > 0 && lx % ll == 0 && lg == lx && lloss == 1, "softmaxCrossEntropy: buffer sizes do not match [P, K]");
    const size_t P = ll, K = lx / ll;
    size_t scored = 0;
    for (size_t p = 0; p < P; p++) scored += labels[p] != ignore ? 1 : 0;
    const double n = double(std::max<size_t>(scored, 1));
    const float inv = float(1.0 / n);
    double total = 0;
    for (size_t p = 0; p < P; p++) {
      const float* xr = x + p * K;
      float* gr = grad + p * K;
      const int32_t label = labels[p];
      if (label == ignore || label < 0 || size_t(label) >= K) {
        // Ignored, or outside [0, K): tf.oneHot's zero row scores 0 with a zero gradient (the pixel still counts in n).
        std::fill(gr, gr + K, 0.0f);
        continue;
      }
      float m = -INFINITY;
      for (size_t k = 0; k < K; k++) m = std::max(m, xr[k]);
      double sum = 0;
      for (size_t k = 0; k < K; k++) {
        gr[k] = std::exp(xr[k] - m);
        sum += gr[k];
      }
      const float logSum = float(std::log(sum));
      const float scale = float(1.0 / sum);
      for (size_t k = 0; k < K; k++) gr[k] = gr[k] * scale * inv;
      total -= double(xr[label] - m - logSum);
      gr[label] -= inv;
    }
    loss[0] = float(total / n);
  });
}

}  // namespace hemnet
