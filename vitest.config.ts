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

// Test files that share their worker processes (isolate: false): a fresh process per file cost
// ~0.9 CPU-s (starting it, loading vitest and the modules under test; docs/TESTING.md), a large
// part of what many files cost. Sharing is per folder (recursive): the in-process unit and property
// tests of the lower layers, and end-to-end folders whose files only wait for the CLI processes
// they spawn. None of their files sets environment variables, changes directory or mocks modules or
// timers; every process, server and store they start ends with its test or file. A file that does
// not keep to that, or that measures the process itself, goes in isolatedAnyway; files the
// sequencer orders (FIRST, LAST) and the PostgreSQL-serial ones stay where they are.
const sharedFolders = [
  'src/core',
  'src/audit',
  'src/models',
  'src/datasets',
  'src/storage',
  'src/compliance',
  'src/lineage',
  'src/identity',
  'src/dataprep',
  'src/meta',
  'src/store-admin',
  'src/sdk',
  'src/app',
  'src/cli/run',
  'src/cli/demo',
  'src/compute/backends',
  'src/compute/code',
  'src/compute/metrics',
  'src/compute/pipelines',
  'src/compute/run-spec',
  'test/architecture',
  'test/attack',
  'test/audit',
  'test/compliance',
  'test/compute',
  'test/dataprep',
  'test/oms',
  'test/release',
  'test/scripts',
  'test/server',
  'test/transfer',
  'test/witness',
];
const isolatedAnyway = [
  // Switch CAIRN_NATIVE, or set CAIRN_METRICS_FILE and change directory (the SDK's run helpers).
  'src/datasets/names.test.ts',
  'src/datasets/status-property.test.ts',
  'src/sdk/run.test.ts',
  // Their locks name the test process's own pid as the holder.
  'src/storage/locks/locks.test.ts',
  'src/store-admin/store-admin.test.ts',
  'src/app/store-locks.test.ts',
  'test/attack/job-cross-run.test.ts',
  'test/compute/run-cli.test.ts',
  'test/server/attack-client.test.ts',
  'test/server/job-user.test.ts',
  // Share Slurm's one node, locked by pid (src/test-support/slurm.ts).
  'test/server/team-compute.test.ts',
  // Set secrets and credentials in the environment for the servers and clients they start.
  'test/server/job-env.test.ts',
  'test/transfer/faults.test.ts',
  // Put fake commands first on PATH.
  'src/compute/backends/local/grace.test.ts',
  'src/compute/backends/local/idle-policy.test.ts',
  // Measure the memory of their own process.
  'test/attack/server-upload-memory.test.ts',
  'test/attack/own-log-export-flood.test.ts',
  // PostgreSQL migrations racing other processes (see serialPostgres).
  'src/meta/postgres/migrate-race.test.ts',
  'src/meta/postgres/pipelined.test.ts',
  // Not yet checked for sharing: the OIDC files (work in progress).
  'src/app/oidc/bounded-fetch.test.ts',
  'src/app/oidc/settings.test.ts',
  'test/server/oidc.test.ts',
  'test/server/oidc-session-recheck.test.ts',
];
const shared = sharedFolders
  .flatMap((folder) =>
    readdirSync(join(import.meta.dirname, folder), { recursive: true, encoding: 'utf8' }).map((f) => `${folder}/${f}`),
  )
  .filter(
    (f) =>
      f.endsWith('.test.ts') &&
      !isolatedAnyway.includes(f) &&
      !FIRST.includes(f) &&
      !LAST.includes(f) &&
      !serialPostgres.includes(f),
  )
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
          // Fails a file that leaves the environment, the working directory or fake timers changed
          // (and undoes it for the next file), so a file that should be in isolatedAnyway says so.
          setupFiles: ['src/test-support/shared-process-guard.ts'],
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
