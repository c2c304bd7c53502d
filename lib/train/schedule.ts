// Schedules, as the training issue defines them.

/**
 * Quadratic warm-up of a regulariser weight: lambda_t = lambda * min(1, (t / warmupSteps)^2), with
 * t = 1 for the first optimizer step; warmupSteps = 0 means no warm-up.
 */
export function lambdaAt(lambda: number, t: number, warmupSteps: number): number {
  if (warmupSteps <= 0) return lambda;
  return lambda * Math.min(1, (t / warmupSteps) ** 2);
}

/**
 * transformers' get_linear_schedule_with_warmup: the multiplier of the base learning rate after
 * `done` scheduler steps (the first optimizer step uses done = 0, hence lr 0 when warmupSteps > 0):
 * done / warmup during warm-up, then a linear decay to 0 at totalSteps (null: no decay, the
 * constant schedule with warm-up).
 */
export function linearWarmupFactor(done: number, warmupSteps: number, totalSteps: number | null): number {
  if (done < warmupSteps) return done / Math.max(1, warmupSteps);
  if (totalSteps === null) return 1;
  return Math.max(0, (totalSteps - done) / Math.max(1, totalSteps - warmupSteps));
}
