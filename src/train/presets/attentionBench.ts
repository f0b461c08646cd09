/**
 * `attention-bench`: a benchmark where EM attention can matter (issue 11).
 * The default scenes give the head an 8×8 map (64 pixels) with K = 16 bases
 * and 1–2 digits; here 128×128 scenes carry 3–6 digits that may hide half of
 * each other among 4–10 clutter fragments, the backbone keeps output stride
 * 8, so the head sees 16×16 = 256 feature pixels, with C = 128 and K = 32
 * bases (the paper: C = 512, K = 64 on 65×65 maps). Only sizes change: the
 * head's method is the `--head` preset's (hem, ema, fcn).
 */
import type { RunPreset } from '../presets.js';

export const attentionBench: RunPreset = {
  name: 'attention-bench',
  summary: '128×128 scenes, 3–6 occluding digits + clutter, OS 8 → 16×16 maps, C = 128, K = 32',
  config: {
    data: {
      canvasSize: 128,
      digitsPerScene: [3, 6],
      digitScale: [1.2, 2.4],
      digitOverlap: 0.5,
      clutterFragments: [4, 10],
      labelDilation: 1,
      trainSize: 8000,
      valSize: 500,
    },
    model: {
      outputStride: 8,
      width: 16,
      channels: 128,
      midChannels: 128,
      hem: { numBases: 32 },
    },
    train: {
      steps: 3000,
      batchSize: 8,
      checkpointEvery: 250,
      monitorEvery: 100,
      monitorGradient: true,
      // The validation curve (issue 11: a budget that reaches a plateau): mIoU on 100 fixed validation scenes at every monitor event.
      monitorValidation: 100,
    },
    eval: { batchSize: 8 },
  },
};
