/* eslint-disable @typescript-eslint/no-explicit-any -- service answers are checked field by field */
// Finished runs travel by push and pull (docs/REMOTES.md "Runs"): the row, its parameters and
// metric points, imported only when the verified log's run.submit and the event that ended the
// run vouch for exactly that run, with its input and output versions on the receiving side. Real
// workspaces, real training jobs on the local backend, real file:// remotes.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rawSqlite } from '../../src/test-support/audit-tamper.js';
import { servicesWorkspace } from '../../src/test-support/services-workspace.js';
import { writeTree } from '../../src/test-support/workspace.js';
import type { RemoteState } from '../../src/transfer/index.js';

const workspace = (actor: string) => servicesWorkspace(actor, 'cairn-rp');

/** A training spec in `dir`: reads its input, logs a loss curve and a parameter, writes a model (or fails). */
function trainingSpec(dir: string, opts: { fail?: boolean; name?: string } = {}): string {
  writeTree(dir, {
    'train.sh': [
      'set -e',
      'cat "$CAIRN_INPUT_TRAIN/d.csv" > /dev/null',
      'for s in 0 1 2 3; do echo "{\\"kind\\":\\"metric\\",\\"name\\":\\"loss\\",\\"value\\":$((10 - s)).5,\\"step\\":$s}" >> "$CAIRN_METRICS_FILE"; done',
      'echo "{\\"kind\\":\\"param\\",\\"name\\":\\"seen_lr\\",\\"value\\":\\"$1\\"}" >> "$CAIRN_METRICS_FILE"',
      'echo "model for lr=$1" > "$CAIRN_OUTPUT_DIR/model.txt"',
      opts.fail ? 'exit 3' : 'echo trained',
    ].join('\n'),
  });
  const spec = join(dir, `${opts.name ?? 'train'}.yaml`);
  writeFileSync(
    spec,
    `name: ${opts.name ?? 'toy-train'}\ncommand: sh train.sh {params.lr}\ninputs:\n  train: toy@v1\nparams:\n  lr: ${opts.fail ? 0.5 : 0.1}\nresources:\n  time: 5m\n`,
  );
  return spec;
}

/** alice adds `toy`, trains once (completed) and once more (failed), then pushes everything. */
async function trained() {
  const alice = await workspace('alice@example.com');
  writeTree(join(alice.dir, 'data'), { 'd.csv': 'x,y\n1,2\n3,4\n' });
  await alice.run((s) => s.datasets.add({ source: join(alice.dir, 'data'), name: 'toy' }));
  const ok: any = await alice.run((s) => s.runs.submit({ spec: trainingSpec(alice.dir) }));
  const done: any = await alice.run((s) => s.runs.wait(ok.run.id, { pollMs: 50 }));
  expect(done.status).toBe('completed');
  const bad: any = await alice.run((s) =>
    s.runs.submit({ spec: trainingSpec(alice.dir, { fail: true, name: 'broken' }) }),
  );
  const failed: any = await alice.run((s) => s.runs.wait(bad.run.id, { pollMs: 50 }));
  expect(failed.status).toBe('failed');
  const remote = mkdtempSync(join(tmpdir(), 'cairn-rp-remote-'));
  await alice.run((s) => s.transfer.addRemote('origin', `file://${remote}`, {}));
  const pushed: any = await alice.run((s) => s.transfer.push([], { remote: 'origin' }));
  return { alice, remote, pushed, done, failed };
}

const stateOf = (remote: string) => JSON.parse(readFileSync(join(remote, 'meta', 'state.json'), 'utf8')) as RemoteState;
const writeStateOf = (remote: string, s: RemoteState) =>
  writeFileSync(join(remote, 'meta', 'state.json'), `${JSON.stringify(s)}\n`);

describe('runs travel by push and pull (workspace to workspace, file remote)', () => {
  it('carries finished runs with their metrics and parameters, marked as imported; audit verify passes; idempotent; onward', async () => {
    const { alice, remote, pushed, done, failed } = await trained();
    expect([...pushed.runs].sort()).toEqual([done.id, failed.id].sort());
    // The ending events log the digests of the metrics and parameters they vouch for.
    const ends: any[] = await alice.run((s) => s.audit.events({ action: 'run.finish' }));
    expect(JSON.stringify(ends)).toMatch(/"metricsDigest":"sha256:[0-9a-f]{64}"/);

    const bob = await workspace('bob@example.com');
    await bob.run((x) => x.transfer.addRemote('origin', `file://${remote}`, {}));
    const pulled: any = await bob.run((x) => x.transfer.pull([], { remote: 'origin' }));
    expect(pulled.runs.skipped).toEqual([]);
    expect(pulled.imported.runs).toBe(2);
    expect(pulled.runs.imported.map((r: any) => r.run).sort()).toEqual([done.id, failed.id].sort());

    const theirs: any = await alice.run((x) => x.runs.details(done.id));
    const ours: any = await bob.run((x) => x.runs.details(done.id));
    expect(ours).toMatchObject({
      id: done.id,
      status: 'completed',
      exitCode: 0,
      runKey: theirs.runKey,
      params: { lr: 0.1, seen_lr: '0.1' },
      metrics: theirs.metrics,
      output: 'runs/toy-train@v1',
      imported: { author: 'alice@example.com', by: 'alice@example.com', record: true, index: expect.any(Number) },
    });
    expect(ours.metrics).toEqual([{ name: 'loss', points: 4, last: 7.5, lastStep: 3, min: 7.5, max: 10.5 }]);
    const series: any = await bob.run((x) => x.runs.metricSeries(done.id, 'loss', 10));
    expect(series.points).toBe(4);
    const gone: any = await bob.run((x) => x.runs.details(failed.id));
    expect(gone).toMatchObject({ status: 'failed', exitCode: 3, imported: { author: 'alice@example.com' } });
    const listed: any[] = await bob.run((x) => x.runs.list({}));
    expect(listed.every((r) => r.imported !== null)).toBe(true);
    // The pull event records where each came from; audit verify binds the rows to it.
    const ev: any[] = await bob.run((x) => x.audit.events({ action: 'remote.pull' }));
    expect(JSON.stringify(ev)).toContain('importedRuns');
    const verify: any = await bob.run((x) => x.audit.verify({}));
    expect(verify.ok, JSON.stringify(verify.problems).slice(0, 2000)).toBe(true);
    // Lineage: input → run → output on bob's side too.
    const graph: any = await bob.run((x) => x.lineage.of('runs/toy-train@v1', 'up'));
    expect(JSON.stringify(graph)).toContain(done.id);
    // An imported run is not a cache hit here: the same spec executes.
    const plan: any = await bob.run((x) => x.runs.plan({ spec: trainingSpec(bob.dir) }));
    expect(plan.cacheHit).toBeNull();

    // Idempotent: pushing again adds nothing, pulling again imports nothing.
    await alice.run((x) => x.transfer.push([], { remote: 'origin' }));
    const again: any = await bob.run((x) => x.transfer.pull([], { remote: 'origin' }));
    expect(again.imported.runs).toBe(0);

    // Onward: bob's log vouches for what it imported, so a third workspace takes it from bob.
    const remote2 = mkdtempSync(join(tmpdir(), 'cairn-rp-remote2-'));
    await bob.run((x) => x.transfer.addRemote('second', `file://${remote2}`, {}));
    await bob.run((x) => x.transfer.push([], { remote: 'second' }));
    const carol = await workspace('carol@example.com');
    await carol.run((x) => x.transfer.addRemote('second', `file://${remote2}`, {}));
    const third: any = await carol.run((x) => x.transfer.pull([], { remote: 'second' }));
    expect(third.runs.skipped).toEqual([]);
    expect(third.imported.runs).toBe(2);
    expect(((await carol.run((x) => x.runs.details(done.id))) as any).metrics).toEqual(ours.metrics);
    expect(((await carol.run((x) => x.audit.verify({}))) as any).ok).toBe(true);
  }, 180_000);

  it('refuses what no verified event vouches for exactly: an invented run, altered metrics, another status; a claimed author is not taken', async () => {
    const { remote, done } = await trained();
    const honest = stateOf(remote);
    const run = honest.runs.find((r) => r.id === done.id)!;
    const pullWith = async (edit: (s: RemoteState) => void) => {
      const s: RemoteState = JSON.parse(JSON.stringify(honest));
      edit(s);
      writeStateOf(remote, s);
      const w = await workspace('mallory@example.com');
      await w.run((x) => x.transfer.addRemote('origin', `file://${remote}`, {}));
      const r: any = await w.run((x) => x.transfer.pull([], { remote: 'origin' }));
      return { r, w };
    };
    const at = (s: RemoteState) => s.runs.findIndex((r) => r.id === done.id);
    // A run nobody submitted (a copy of a real one under a new id).
    const invented = await pullWith((s) => s.runs.push({ ...run, id: '01900000-0000-7000-8000-000000000000' }));
    expect(invented.r.runs.skipped).toMatchObject([{ run: '01900000-0000-7000-8000-000000000000', why: /no event/ }]);
    expect(invented.r.imported.runs).toBe(2);
    const ev: any[] = await invented.w.run((x) => x.audit.events({ action: 'remote.pull' }));
    expect(JSON.stringify(ev)).toContain('skippedRuns');
    // Better metrics under the logged run.
    const better = await pullWith((s) => {
      s.runs[at(s)] = { ...run, metrics: run.metrics.map((p) => ({ ...p, value: p.value / 10 })) };
    });
    expect(better.r.runs.skipped).toMatchObject([{ run: done.id, why: /metrics/ }]);
    await expect(better.w.run((x) => x.runs.details(done.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // A parameter changed after the fact.
    const param = await pullWith((s) => {
      s.runs[at(s)] = { ...run, params: run.params.map((p) => (p.name === 'lr' ? { ...p, value: '0.3' } : p)) };
    });
    expect(param.r.runs.skipped).toMatchObject([{ run: done.id, why: /parameters/ }]);
    // A failed run passed off as completed.
    const status = await pullWith((s) => {
      s.runs[at(s)] = { ...run, exit_code: 1, status: 'failed' };
    });
    expect(status.r.runs.skipped).toMatchObject([{ run: done.id, why: /status/ }]);
    // Someone else claimed as its author: imported, with the author the event names.
    const claimed = await pullWith((s) => {
      s.runs[at(s)] = { ...run, created_by: 'mallory@example.com' };
    });
    expect(claimed.r.runs.skipped).toEqual([]);
    const shown: any = await claimed.w.run((x) => x.runs.details(done.id));
    expect(shown.imported).toMatchObject({ author: 'alice@example.com', by: 'alice@example.com' });
    expect(((await claimed.w.run((x) => x.audit.verify({}))) as any).ok).toBe(true);
    writeStateOf(remote, honest);
  }, 180_000);

  it('a run whose input is not on the destination is refused with the reason; a run row edited with SQL is refused and audit verify names it', async () => {
    const alice = await workspace('alice@example.com');
    writeTree(join(alice.dir, 'data'), { 'd.csv': 'x,y\n1,2\n3,4\n' });
    await alice.run((s) => s.datasets.add({ source: join(alice.dir, 'data'), name: 'toy' }));
    const sub: any = await alice.run((s) => s.runs.submit({ spec: trainingSpec(alice.dir) }));
    await alice.run((s) => s.runs.wait(sub.run.id, { pollMs: 50 }));
    const remote = mkdtempSync(join(tmpdir(), 'cairn-rp-remote-'));
    await alice.run((s) => s.transfer.addRemote('origin', `file://${remote}`, {}));
    // Only the output goes: the run travels with it, its input does not.
    const pushed: any = await alice.run((s) => s.transfer.push(['runs/toy-train@v1'], { remote: 'origin' }));
    expect(pushed.runs).toEqual([sub.run.id]);
    const bob = await workspace('bob@example.com');
    await bob.run((x) => x.transfer.addRemote('origin', `file://${remote}`, {}));
    const pulled: any = await bob.run((x) => x.transfer.pull([], { remote: 'origin' }));
    expect(pulled.runs.skipped).toMatchObject([{ run: sub.run.id, why: /input train .*not on this side/ }]);
    expect(pulled.imported.versions).toBe(1);
    // Pushing the input too lets it in.
    await alice.run((s) => s.transfer.push([], { remote: 'origin' }));
    const later: any = await bob.run((x) => x.transfer.pull([], { remote: 'origin' }));
    expect(later.runs.imported.map((r: any) => r.run)).toEqual([sub.run.id]);

    // The laptop's row edited with SQL (its exit code and status): the next workspace refuses it,
    // and audit verify on the laptop names the row.
    const db = rawSqlite(alice.dir);
    await db.run(`UPDATE runs SET status = 'failed', exit_code = 2 WHERE id = ?`, [sub.run.id]);
    await db.close();
    const verify: any = await alice.run((s) => s.audit.verify({}));
    expect(verify.ok).toBe(false);
    expect(JSON.stringify(verify.problems)).toContain(sub.run.id);
    const remote3 = mkdtempSync(join(tmpdir(), 'cairn-rp-remote3-'));
    await alice.run((s) => s.transfer.addRemote('third', `file://${remote3}`, {}));
    await alice.run((s) => s.transfer.push([], { remote: 'third' }));
    const carol = await workspace('carol@example.com');
    await carol.run((x) => x.transfer.addRemote('third', `file://${remote3}`, {}));
    const third: any = await carol.run((x) => x.transfer.pull([], { remote: 'third' }));
    expect(third.runs.skipped).toMatchObject([{ run: sub.run.id, why: /status/ }]);
  }, 180_000);
});
