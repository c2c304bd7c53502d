import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Native kernels use the shared thread pool: one test file at a time keeps timings honest and
    // the 2-core CI machine responsive.
    fileParallelism: false,
  },
});
