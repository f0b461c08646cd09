/** Learning-rate schedules. */

/**
 * Poly decay (DeepLab / EMANet): lr = base · (1 − step / totalSteps)^power.
 * `step` counts from 0; the rate reaches 0 at `totalSteps`.
 */
export function polyLearningRate(base: number, step: number, totalSteps: number, power = 0.9): number {
  if (!(totalSteps > 0)) throw new Error(`polyLearningRate: 'totalSteps' must be > 0, received ${totalSteps}`);
  const progress = Math.min(Math.max(step / totalSteps, 0), 1);
  return base * (1 - progress) ** power;
}
