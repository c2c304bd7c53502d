// The seed of the randomised tests. Fixed by default, so a failure reproduces; SPLADE_TEST_SEED=<n>
// explores other inputs (e.g. SPLADE_TEST_SEED=$RANDOM in a soak run). Every assertion that depends
// on it names the seed in its message, so a failing run says how to repeat it.
const env = process.env.SPLADE_TEST_SEED;
if (env !== undefined && !/^\d{1,15}$/.test(env)) throw new Error(`SPLADE_TEST_SEED must be a non-negative integer, got ${JSON.stringify(env)}`);

export const TEST_SEED = env === undefined ? 20261207 : Number(env);

/** n distinct seeds derived from TEST_SEED (TEST_SEED, TEST_SEED + 1, ...). */
export function testSeeds(n: number): number[] {
  return Array.from({ length: n }, (_, i) => TEST_SEED + i);
}
