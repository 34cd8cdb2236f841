import { defineConfig } from 'vitest/config';

// The PostgreSQL conformance and audit-on-PostgreSQL files fail when they run at the same time as
// each other ("schema … does not exist" during migrations: cause not yet found); they run last,
// one after the other, while everything else uses both cores.
const serialPostgres = ['src/meta/postgres.test.ts', 'test/audit/postgres.test.ts'];

export default defineConfig({
  test: {
    // Says which services (sshd, Slurm) the tests left up and how to stop them.
    globalSetup: ['test/services-notice.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two workers on this 2-core machine (the default would be one): most test files wait on the
    // processes they start (the CLI, servers, browsers), so two overlap well; one ran past 26 min.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: [...serialPostgres, '**/node_modules/**'],
          // Tests that share PostgreSQL use per-test schemas, so files may run in parallel.
          fileParallelism: true,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres-serial',
          include: serialPostgres,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
