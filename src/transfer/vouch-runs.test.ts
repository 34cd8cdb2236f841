import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../core/canonical-json.js';
import { metricsDigest, paramsDigest } from '../compute/index.js';
import { mulberry32 } from '../test-support/prng.js';
import { emptyState, type RunStateRow } from './state.js';
import { collectRunVouchers, planRunImport, type RunVouchers } from './vouch-runs.js';
import { runImportEvents } from './pull.js';

const hex = (n: number) => n.toString(16).padStart(64, '0');
const W = 'ws-1';

/** One random finished run: its row as the origin holds it, and the entries of the log that ran it. */
function randomRun(r: () => number, n: number, oldEvents: boolean) {
  const int = (k: number) => Math.floor(r() * k);
  const id = `run-${n}`;
  const k = int(3);
  const input = { name: 'train', versionId: `in-${n}`, digest: hex(100 + k), ref: 'toy@v1' };
  const status = r() < 0.6 ? 'completed' : r() < 0.5 ? 'failed' : 'cancelled';
  const output = status === 'completed' && r() < 0.8 ? `out-${n}` : null;
  const params = { lr: int(10) / 10 };
  const points = Array.from({ length: int(6) }, (_, i) => ({
    name: r() < 0.5 ? 'loss' : 'acc',
    step: r() < 0.8 ? i : null,
    value: int(1000) / 7,
    time: `2026-01-01T00:00:0${i}.000Z`,
  }));
  const logged = [
    { name: 'lr', value: JSON.stringify(params.lr) },
    ...(r() < 0.5 ? [{ name: 'seen', value: '"x"' }] : []),
  ];
  const usage = { elapsedS: int(100), cpuSeconds: int(100), gpuSeconds: 0 };
  const row: RunStateRow = {
    id,
    run_key: hex(n),
    name: 'train',
    project: 'default',
    spec_digest: hex(7),
    spec: canonicalJson({ spec: { params, resources: { gpus: 0 } }, command: 'sh t.sh', inputs: [input] }),
    backend: 'local',
    backend_id: null,
    status,
    reason: null,
    exit_code: status === 'completed' ? 0 : status === 'failed' ? 3 : null,
    priority: 0,
    gpus: 0,
    cpus: 1,
    memory_mb: 0,
    time_limit_s: 60,
    created_at: '2026-01-01T00:00:00.000Z',
    created_by: 'alice',
    started_at: '2026-01-01T00:00:01.000Z',
    ended_at: '2026-01-01T00:00:09.000Z',
    restarts: 0,
    code_commit: r() < 0.5 ? 'abc' : null,
    code_dirty: null,
    env_digest: null,
    output_version_id: output,
    reused_from: null,
    usage: canonicalJson({ ...usage, gpu: { available: false } }),
    human_name: `r-${n}`,
    tags: canonicalJson({ team: 'a' }),
    note: null,
    params: logged,
    metrics: points,
  };
  const digests = oldEvents ? {} : { metricsDigest: metricsDigest(points), paramsDigest: paramsDigest(logged) };
  const submit = {
    action: 'run.submit',
    outcome: 'ok',
    time: '2026-01-01T00:00:00.500Z',
    actor: { id: 'alice' },
    target: { type: 'run', name: id },
    inputs: [`sha256:${input.digest}`],
    params: {
      runName: 'train',
      runKey: row.run_key,
      project: 'default',
      command: 'sh t.sh',
      codeCommit: row.code_commit,
      codeDirty: null,
      params,
      resources: { gpus: 0 },
      specDigest: `sha256:${row.spec_digest}`,
      humanName: row.human_name,
      tags: { team: 'a' },
    },
  };
  const end =
    status === 'completed'
      ? {
          action: 'run.finish',
          outcome: 'ok',
          outputs: output ? [`sha256:${hex(500 + n)}`] : [],
          params: { exitCode: 0, usage, ...digests },
        }
      : status === 'failed'
        ? {
            action: 'run.fail',
            outcome: 'failed',
            reason: 'EXIT: exited with status 3',
            params: { state: 'failed', exitCode: 3, ...digests },
          }
        : { action: 'run.cancel', outcome: 'ok', params: { state: 'cancelled', exitCode: null, ...digests } };
  const endEvent = {
    ...end,
    time: '2026-01-01T00:00:10.000Z',
    actor: { id: 'alice' },
    target: { type: 'run', name: id },
  };
  const versions: Array<[string, string]> = [[input.versionId, input.digest]];
  if (output) versions.push([output, hex(500 + n)]);
  return { row, events: [submit, endEvent], versions };
}

/** Tampers that change what the events vouch for: each must be refused. */
const TAMPERS: Array<[string, (x: RunStateRow) => RunStateRow]> = [
  ['metrics', (x) => ({ ...x, metrics: [...x.metrics, { name: 'loss', step: 99, value: 0, time: x.ended_at! }] })],
  ['logged parameters', (x) => ({ ...x, params: [...x.params, { name: 'extra', value: '1' }] })],
  ['status', (x) => ({ ...x, status: x.status === 'completed' ? 'failed' : 'completed' })],
  ['exit code', (x) => ({ ...x, exit_code: 42 })],
  ['run key', (x) => ({ ...x, run_key: hex(999_999) })],
  ['project', (x) => ({ ...x, project: 'other' })],
  ['tags', (x) => ({ ...x, tags: '{"team":"b"}' })],
  ['usage', (x) => ({ ...x, usage: '{"cpuSeconds":0,"elapsedS":0,"gpuSeconds":0}' })],
];

describe('which runs of a remote state an import takes (random histories)', () => {
  it('takes exactly the untampered runs, as the events vouch for them; refuses tampered ones, invented ones and those missing a version', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = mulberry32(seed);
      const oldEvents = r() < 0.25;
      const runs = Array.from({ length: 1 + Math.floor(r() * 6) }, (_, i) => randomRun(r, i, oldEvents));
      // The log: every run's events, interleaved in order, some entries with a lying index.
      const entries: string[] = [];
      const forgedIndex = new Set<string>();
      for (const x of runs)
        for (const e of x.events) {
          const lie = r() < 0.05;
          if (lie) forgedIndex.add(x.row.id);
          entries.push(JSON.stringify({ ...e, index: entries.length + (lie ? 1 : 0), workspace: W }));
        }
      const vouchers: RunVouchers = new Map();
      collectRunVouchers(vouchers, { workspace: W, origin: 'laptop' }, entries);

      const versions = new Map<string, string>();
      const state = emptyState();
      const want = new Map<string, string | null>();
      for (const x of runs) {
        const missing = r() < 0.15;
        for (const [id, d] of missing ? x.versions.slice(1) : x.versions) versions.set(id, d);
        const roll = r();
        const tamper = roll < 0.3 ? TAMPERS[Math.floor(r() * TAMPERS.length)]! : null;
        let row = tamper ? tamper[1](x.row) : x.row;
        if (r() < 0.2) row = { ...row, created_by: 'mallory' }; // claimed author: not vouched, not taken
        state.runs.push(row);
        // Old events vouch for neither metrics nor logged params: those tampers pass, and the run comes without them.
        // Only run.finish logs the usage figures: a failed or cancelled run's usage is not vouched for.
        const harmless =
          tamper &&
          ((oldEvents && (tamper[0] === 'metrics' || tamper[0] === 'logged parameters')) ||
            (tamper[0] === 'usage' && x.row.status !== 'completed'));
        want.set(
          x.row.id,
          forgedIndex.has(x.row.id) ? 'no event' : missing ? 'input' : tamper && !harmless ? tamper[0] : null,
        );
      }
      // A run nobody submitted.
      state.runs.push({ ...runs[0]!.row, id: 'invented' });
      want.set('invented', 'no event');
      // Another workspace's run already here is left alone.
      const local = new Set(r() < 0.3 ? [runs[0]!.row.id] : []);

      const plan = planRunImport(state, vouchers, { local, versions, registrant: r() < 0.5 ? 'pusher' : null });
      const taken = new Set(plan.runs.map((x) => x.id));
      for (const [id, why] of want) {
        if (local.has(id)) {
          expect(taken.has(id) || plan.skipped.some((s) => s.run === id), `seed ${seed} ${id}`).toBe(false);
          continue;
        }
        if (why === null) expect(taken.has(id), `seed ${seed} ${id}: ${JSON.stringify(plan.skipped)}`).toBe(true);
        else {
          const s = plan.skipped.find((x) => x.run === id);
          expect(s?.why, `seed ${seed} ${id} (${why})`).toContain(why);
        }
      }
      for (const x of plan.runs) {
        const imp = plan.imported.find((i) => i.run === x.id)!;
        expect(x.created_by).toBe(imp.registrant);
        expect(imp.author).toBe('alice');
        expect(imp.record).toBe(!oldEvents);
        const origin = runs.find((o) => o.row.id === x.id)!.row;
        if (oldEvents) {
          expect(x.metrics).toEqual([]);
          expect(x.params).toEqual([{ name: 'lr', value: JSON.stringify(JSON.parse(origin.spec).spec.params.lr) }]);
        } else expect([x.metrics, x.params]).toEqual([origin.metrics, origin.params]);
      }
    }
  });
});

describe("a team server's run.import events (one per project of an import)", () => {
  it('group the imported runs by project, and each vouches for its own project only', () => {
    const r = mulberry32(7);
    const runs = [0, 1, 2].map((n) => randomRun(r, n, false));
    const entries = runs.flatMap((x) => x.events).map((e, index) => JSON.stringify({ ...e, index, workspace: W }));
    const laptop: RunVouchers = new Map();
    collectRunVouchers(laptop, { workspace: W, origin: 'laptop' }, entries);
    const imported = runs.map((x, i) => {
      const v = laptop.get(x.row.id)![0]!;
      const claim = { ...v.claim, project: i === 2 ? 'vision' : 'nlp' };
      return {
        run: x.row.id,
        author: v.author,
        registrant: 'bob',
        origin: 'laptop',
        workspace: W,
        index: 0,
        record: true,
        claim,
      };
    });
    const events = runImportEvents('store', imported);
    expect(events.map((e) => [e.target, (e.params!.importedRuns as unknown[]).length])).toEqual([
      [{ type: 'project', name: 'nlp' }, 2],
      [{ type: 'project', name: 'vision' }, 1],
    ]);
    // A run.import that names a run of another project than its own vouches for none of it.
    const lying = { ...events[0]!, target: { type: 'project', name: 'vision' } };
    const server = [events[1]!, lying].map((e, index) =>
      JSON.stringify({ ...e, outcome: 'ok', actor: { id: 'bob' }, index, workspace: 'srv' }),
    );
    const vouchers: RunVouchers = new Map();
    collectRunVouchers(vouchers, { workspace: 'srv', origin: 'server' }, server);
    expect([...vouchers.keys()]).toEqual([runs[2]!.row.id]);
    expect(vouchers.get(runs[2]!.row.id)).toMatchObject([{ author: 'bob', index: 0 }]);
  });
});

describe('a run id that is not one path segment', () => {
  it.each(['../../../../tmp/evil', 'x/../../secret-run', '..', '.hidden', 'a\\..\\b', 'nul\0byte'])(
    '%j is refused even with events that vouch for it: it would name the run folder outside .cairn/runs',
    (bad) => {
      const x = randomRun(mulberry32(7), 0, false);
      const row = { ...x.row, id: bad };
      const entries = x.events.map((e, index) =>
        JSON.stringify({ ...e, target: { type: 'run', name: bad }, index, workspace: W }),
      );
      const vouchers: RunVouchers = new Map();
      collectRunVouchers(vouchers, { workspace: W, origin: 'laptop' }, entries);
      expect(vouchers.get(bad)?.length).toBe(1);
      const state = { ...emptyState(), runs: [row] };
      const plan = planRunImport(state, vouchers, {
        local: new Set(),
        versions: new Map(x.versions),
        registrant: null,
      });
      expect(plan.runs).toEqual([]);
      expect(plan.skipped).toEqual([
        expect.objectContaining({ run: bad, why: expect.stringContaining('not a run id') }),
      ]);
      // The same run under its own id is taken: the id alone decides.
      const good = planRunImport({ ...emptyState(), runs: [x.row] }, vouchersOf(x), {
        local: new Set(),
        versions: new Map(x.versions),
        registrant: null,
      });
      expect(good.runs.map((r) => r.id)).toEqual([x.row.id]);
    },
  );
});

function vouchersOf(x: ReturnType<typeof randomRun>): RunVouchers {
  const v: RunVouchers = new Map();
  collectRunVouchers(
    v,
    { workspace: W, origin: 'laptop' },
    x.events.map((e, index) => JSON.stringify({ ...e, index, workspace: W })),
  );
  return v;
}
