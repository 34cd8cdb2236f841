// Two real `cairn` processes dispatch the same queued runs at once (what two `run ls`, or two
// server processes, do): the dispatch claim (backend_id = claim:<ms>:<uuid>) must make each job
// start exactly once, and the runs' ends must be recorded once too.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rawPostgres, rawSqlite, type RawSql } from '../../src/test-support/audit-tamper.js';
import { cli, cliSpawn } from '../../src/test-support/cli.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../src/test-support/services.js';
import { useTempDirs } from '../../src/test-support/temp.js';

function ok<T>(cwd: string, args: string[]): T {
  const r = cli([...args, '--json'], { cwd });
  if (r.code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`);
  return r.json as T;
}

/** Runs `cairn <args>` in `n` processes started together; resolves with their exit codes and stderr. */
async function together(cwd: string, n: number, args: string[]): Promise<Array<{ code: number; err: string }>> {
  return Promise.all(
    Array.from({ length: n }, () => {
      const p = cliSpawn([...args, '--json'], { cwd });
      let err = '';
      p.stdout.resume();
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      return new Promise<{ code: number; err: string }>((resolve) =>
        p.on('close', (code) => resolve({ code: code ?? -1, err })),
      );
    }),
  );
}

const pg = await postgresAvailable();

describe.each([
  ['sqlite', false],
  ['postgres', true],
])('attack: two CLI processes dispatch the same queued runs (%s)', (_name, usePg) => {
  const tmp = useTempDirs();
  let schema: string | null = null;
  afterEach(async () => {
    if (schema) await dropSchema(schema);
    schema = null;
  });

  const setup = (gpus: number[]) => {
    const cwd = tmp();
    const db = usePg ? freshPgUrl() : null;
    schema = db?.schema ?? null;
    ok(cwd, ['init', ...(db ? ['--metadata-url', db.url] : [])]);
    writeFileSync(join(cwd, 'd.csv'), 'x\n1\n');
    ok(cwd, ['data', 'add', 'd.csv', '--name', 'toy']);
    writeFileSync(join(cwd, '.cairn', 'compute.json'), JSON.stringify({ localGpus: gpus }));
    // Quota 0: every run submitted below waits in the queue until the quota is raised.
    ok(cwd, ['compute', 'project', 'set', 'vision', '--gpu-quota', '0']);
    return cwd;
  };

  const submit = (cwd: string, name: string, command: string): string => {
    const p = join(cwd, `${name}.yaml`);
    writeFileSync(
      p,
      `name: ${name}\nproject: vision\ncommand: ${JSON.stringify(command)}\ninputs:\n  data: toy@v1\nresources:\n  time: 10m\n  gpus: 1\n`,
    );
    const r = ok<{ id: string; status: string }>(cwd, ['run', p, '--detach']);
    expect(r.status).toBe('queued');
    return r.id;
  };

  it(
    'each queued job starts once and each run ends once (one output version, one finish event)',
    { timeout: 300_000 },
    async (ctx) => {
      if (usePg && !pg) return ctx.skip();
      const cwd = setup([0, 1, 2, 3, 4, 5]);
      const ids = Array.from({ length: 6 }, (_, i) =>
        submit(
          cwd,
          `job-${i}`,
          `echo start >> "$CAIRN_OUTPUT_DIR/../starts.log"; echo ${i} > "$CAIRN_OUTPUT_DIR/m.txt"`,
        ),
      );
      ok(cwd, ['compute', 'project', 'set', 'vision', '--gpu-quota', '6']);
      // Rounds of two processes at once: the first round dispatches, later ones see the jobs end.
      for (let round = 0; round < 4; round++) {
        for (const r of await together(cwd, 2, ['run', 'ls'])) expect(r.code, r.err).toBe(0);
      }
      const db: RawSql = schema ? await rawPostgres(schema) : rawSqlite(cwd);
      try {
        for (const id of ids) {
          const done = ok<{ status: string; dir: string; output: string; name: string }>(cwd, ['run', 'wait', id]);
          expect(done.status).toBe('completed');
          const dir = join(cwd, '.cairn', 'runs', id);
          const starts = existsSync(join(dir, 'starts.log')) ? readFileSync(join(dir, 'starts.log'), 'utf8') : '';
          expect(starts, `${id}: started more than once`).toBe('start\n');
          const events = await db.all<{ action: string }>(
            `select action from audit_events where target_name = ? and action like 'run.%' order by idx`,
            [id],
          );
          expect(events.filter((e) => e.action === 'run.finish').length, `${id}: finish events`).toBe(1);
          expect(events.filter((e) => e.action === 'run.start').length, `${id}: start events`).toBe(1);
        }
        const versions = await db.all<{ name: string; n: number | string }>(
          `select d.name, count(*) as n from dataset_versions v join datasets d on d.id = v.dataset_id where d.name like 'runs/%' group by d.name`,
        );
        expect(versions.map((v) => [v.name, Number(v.n)]).sort()).toEqual(
          ids.map((_, i) => [`runs/job-${i}`, 1]).sort(),
        );
      } finally {
        await db.close();
      }
    },
  );
});
