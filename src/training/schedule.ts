/** Learning-rate schedules and dynamic task weights (PLE eq. 10). */

export type Decay = 'constant' | 'linear' | 'cosine';

/** Learning rate at step t (0-based) of `total`: linear warm-up, then the decay down to 0 at the end. */
export function learningRate(base: number, t: number, total: number, warmupSteps: number, decay: Decay): number {
  if (t < warmupSteps) return (base * (t + 1)) / warmupSteps;
  if (decay === 'constant') return base;
  const span = Math.max(1, total - warmupSteps);
  const progress = Math.min(1, (t - warmupSteps) / span);
  return decay === 'linear' ? base * (1 - progress) : base * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** w_k(t) = w_k0 * gamma_k^t, with t the epoch (0-based). */
export function taskWeightsAt(initial: number[], gamma: number[], epoch: number): number[] {
  return initial.map((w, k) => w * Math.pow(gamma[k] ?? 1, epoch));
}
