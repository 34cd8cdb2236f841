// `cairn audit verify` while other processes write (issue 10, item 7): verify reads the head,
// the checkpoints, the entries and the rows it reconciles in one database snapshot, so a
// command that appends meanwhile can no longer make it report "the log head says 89 entries
// but 90 are stored" (or a row without its event). Real processes on both sides.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cliSpawn } from '../../src/test-support/cli.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../src/test-support/services.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, reopen, writeTree } from '../../src/test-support/workspace.js';

function spawnRun(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = cliSpawn(args, { cwd });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * A workspace whose log has many signed checkpoints: verify checks every one of them between
 * reading the head and reading the entries, which is the window a concurrent append used to
 * fall into.
 */
async function prepare(ws: string, metadataUrl?: string): Promise<void> {
  const init = await spawnRun(['init', '.', ...(metadataUrl ? ['--metadata-url', metadataUrl] : [])], ws);
  expect(init.code, init.stderr).toBe(0);
  writeTree(join(ws, 'd'), { 'x.bin': prng(1, 4000) });
  expect((await spawnRun(['data', 'add', 'd', '--name', 'a'], ws)).code).toBe(0);
  const w = await reopen(ws);
  try {
    for (let i = 0; i < 400; i++) {
      await w.audit.record({ action: 'store.fsck', target: { type: 'store' } }, 'ok');
      await w.audit.checkpoint();
    }
  } finally {
    await w.close();
  }
}

/** Tags and new versions, one process after another, until told to stop. */
async function writer(ws: string, stop: { done: boolean }): Promise<number> {
  let n = 0;
  while (!stop.done) {
    const r =
      n % 3 === 2
        ? (writeTree(join(ws, 'd'), { 'x.bin': prng(100 + n, 4000) }),
          await spawnRun(['data', 'add', 'd', '--name', 'a'], ws))
        : await spawnRun(['data', 'tag', 'a@v1', `t${n}`], ws);
    expect(r.code, r.stderr).toBe(0);
    n++;
  }
  return n;
}

async function verifyWhileWriting(ws: string, rounds: number): Promise<void> {
  const stop = { done: false };
  const writing = writer(ws, stop);
  const failures: string[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const r = await spawnRun(['audit', 'verify', '--json'], ws);
      if (r.code !== 0) failures.push(r.stdout.slice(0, 2000) + r.stderr.slice(0, 500));
    }
  } finally {
    stop.done = true;
  }
  const writes = await writing;
  expect(writes).toBeGreaterThan(0);
  expect(failures).toEqual([]);
  // And once everything has settled, the log and every row agree.
  const last = await spawnRun(['audit', 'verify', '--json'], ws);
  expect(last.code, last.stdout).toBe(0);
}

const pgUp = await postgresAvailable();

describe('audit verify while other commands write', () => {
  const tmp = useTempDirs();
  const schemas: string[] = [];
  afterEach(async () => {
    for (const s of schemas.splice(0)) await dropSchema(s);
  });

  it('on SQLite: no false alarm, every time', async () => {
    const ws = tmp();
    await prepare(ws);
    await verifyWhileWriting(ws, 8);
  }, 240_000);

  it.skipIf(!pgUp)(
    'on PostgreSQL: no false alarm, every time',
    async () => {
      const ws = tmp();
      const { url, schema } = freshPgUrl();
      schemas.push(schema);
      await prepare(ws, url);
      await verifyWhileWriting(ws, 8);
    },
    240_000,
  );
});
