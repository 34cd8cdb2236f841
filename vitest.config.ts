import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

// Files that take minutes, longest first: started first, they overlap the rest of the suite
// instead of finishing last with one worker left busy (a fresh CI checkout has no timings of
// earlier runs, so vitest would order by file size, and the fault tests are small files). The
// web UI's file builds the shared demo workspace (src/test-support/shared-demo.ts); Slurm's
// mostly waits on the scheduler. The examples come after Slurm's file has (most likely) ended:
// they submit to the same one node, which that file fails on purpose.
const FIRST = [
  'test/ui/ui.test.ts',
  'src/compute/backends/slurm/slurm-backend.test.ts',
  'test/quickstart.test.ts',
  'test/examples/examples.test.ts',
  'test/faults/crash-random.test.ts',
  'test/faults/kill-during-add.test.ts',
];
// Files that only read the shared demo: run last, when it is long built, rather than holding a
// worker that waits for it.
const LAST = ['src/cli/demo.test.ts', 'test/compliance/demo-dossier.test.ts', 'test/models/show-gate.test.ts'];

class HeavyFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const path = relative(f.project.config.root, f.moduleId);
      const first = FIRST.indexOf(path);
      if (first >= 0) return first - FIRST.length;
      return LAST.includes(path) ? 1 : 0;
    };
    // The base order (projects one after another, then sizes or past timings) holds within
    // each rank, and ranks move files only within their project (Array.prototype.sort is stable).
    // The shared-worker files come after all of main's, one run of them, so that a worker that
    // took one goes on to the next instead of starting a process for each.
    const projects = [...new Set(sorted.map((f) => f.project))].sort(
      (a, b) => Number(a.name === 'shared') - Number(b.name === 'shared'),
    );
    const group = (f: TestSpecification) => projects.indexOf(f.project);
    return sorted.sort((a, b) => group(a) - group(b) || rank(a) - rank(b));
  }
}

// The PostgreSQL conformance and audit-on-PostgreSQL files fail when they run at the same time as
// each other ("schema … does not exist" during migrations: cause not yet found); they run last,
// one after the other, while everything else uses both cores.
const serialPostgres = ['src/meta/postgres.test.ts', 'test/audit/postgres.test.ts'];

// In-process unit and property tests of these layers share their worker processes (isolate:
// false): a fresh process per file cost ~0.9 CPU-s (starting it, loading vitest and the modules
// under test; docs/TESTING.md), a large part of what many of these files cost. None of them sets
// environment variables, changes directory or mocks modules or timers, and every process they
// start ends with its test; a file that does not keep to that goes in isolatedAnyway. The
// stat-cache property and file-name tests switch CAIRN_NATIVE; the lock test's locks name its pid.
const isolatedAnyway = [
  'src/datasets/names.test.ts',
  'src/datasets/status-property.test.ts',
  'src/storage/locks/locks.test.ts',
];
const shared = ['core', 'audit', 'models', 'datasets', 'storage', 'compliance', 'lineage', 'identity']
  .flatMap((layer) =>
    readdirSync(join(import.meta.dirname, 'src', layer), { recursive: true, encoding: 'utf8' }).map(
      (f) => `src/${layer}/${f}`,
    ),
  )
  .filter((f) => f.endsWith('.test.ts') && !isolatedAnyway.includes(f))
  .sort();

export default defineConfig({
  test: {
    // Says which services (sshd, Slurm) the tests left up and how to stop them.
    globalSetup: ['test/services-notice.ts'],
    sequence: { sequencer: HeavyFirst },
    // The tests run as root here and in CI: a team server then refuses jobs unless told they may
    // run as root (docs/SERVER.md "Jobs run as their own account"); test/server/job-user.test.ts
    // takes it away to check that refusal, and runs jobs as a real other account.
    env: { CAIRN_ALLOW_ROOT_JOBS: '1' },
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
          exclude: [...serialPostgres, ...shared, '**/node_modules/**'],
          // Tests that share PostgreSQL use per-test schemas, so files may run in parallel.
          fileParallelism: true,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'shared',
          include: shared,
          isolate: false,
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
