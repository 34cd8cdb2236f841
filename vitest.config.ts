import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Says which services (sshd, Slurm) the tests left up and how to stop them.
    globalSetup: ['test/services-notice.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two workers on this 2-core machine (the default would be one): most test files wait on the
    // processes they start (the CLI, servers, browsers), so two overlap well; one ran past 26 min.
    maxWorkers: 2,
    // Tests that share PostgreSQL use per-test schemas, so files may run in parallel.
    fileParallelism: true,
  },
});
