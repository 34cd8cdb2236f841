import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { addVersion } from '../datasets/add.js';
import { prepareRun, submitRun, waitRun } from '../test-support/runs.js';
import { useTempDirs } from '../test-support/temp.js';
import { mulberry32 } from '../test-support/prng.js';
import { newWorkspace, reopen, writeTree } from '../test-support/workspace.js';
import { approve, history, promote, rollback, setPolicy } from './aliases.js';
import { cardMarkdown } from './card.js';
import { listModels, modelVersions, registerModel, resolveModel, verifyModel } from './registry.js';

describe('model registry', () => {
  const tmp = useTempDirs();
  const open: Workspace[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close();
  });

  /** A workspace with a finished training run whose output is a model file. */
  const trained = async () => {
    const root = tmp();
    const ws = await newWorkspace(root, { actor: 'alice@example.com' });
    open.push(ws);
    writeTree(join(root, 'data'), { 'd.csv': 'x,y\n1,0\n2,1\n' });
    await addVersion(ws, { source: join(root, 'data'), name: 'toy' });
    writeFileSync(
      join(root, 'cairn.yaml'),
      'name: toy-train\ncommand: "mkdir -p $CAIRN_OUTPUT_DIR/model && echo weights-{params.lr} > $CAIRN_OUTPUT_DIR/model/model.onnx && echo \'{\\"kind\\":\\"metric\\",\\"name\\":\\"accuracy\\",\\"value\\":0.91}\' >> $CAIRN_METRICS_FILE"\ninputs:\n  train: toy@v1\nparams:\n  lr: 0.1\n',
    );
    const run = await waitRun(ws, (await submitRun(ws, await prepareRun(ws, join(root, 'cairn.yaml')))).run.id, {
      pollMs: 50,
    });
    expect(run.status).toBe('completed');
    return { root, ws, run };
  };

  it('registers a run output as an immutable, digest-addressed version with a generated card and lineage', async () => {
    const { ws, run } = await trained();
    const r = await registerModel(ws, { name: 'toy', fromRun: run.id.slice(0, 12) });
    expect([r.ref, r.format]).toEqual(['toy@v1', 'onnx']);
    expect(r.card.training.data).toEqual([
      { name: 'train', ref: 'toy@v1', digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) },
    ]);
    expect(r.card.metrics).toEqual({ accuracy: 0.91 });
    expect(r.card.training.run).toMatchObject({ id: run.id, params: { lr: 0.1 } });
    const md = cardMarkdown(r.card);
    expect(md).toContain('# Model card: toy v1');
    expect(md).toContain('| accuracy | 0.91 |');
    expect(md).toContain('## Intended use');
    const v = (await resolveModel(ws, 'toy@v1')).version;
    const edges = await ws.meta.db
      .selectFrom('lineage_edges')
      .select(['src_type', 'relation'])
      .where('dst_id', '=', v.id)
      .orderBy('relation')
      .execute();
    expect(edges).toEqual([
      { src_type: 'dataset_version', relation: 'files' },
      { src_type: 'run', relation: 'trained' },
    ]);
    expect(await listModels(ws)).toEqual([
      { name: 'toy', versions: 1, latest: 'v1', updated: expect.any(String), aliases: {} },
    ]);
    expect((await resolveModel(ws, `toy@sha256:${v.digest.slice(0, 8)}`)).ref).toBe('toy@v1');
  });

  it("property: the model listing (one statement) agrees with each model's own versions after every step of a random history", async () => {
    const root = tmp();
    const ws = await newWorkspace(root, { actor: 'alice@example.com' });
    open.push(ws);
    const rnd = mulberry32(0x6d0d);
    const names = ['b-model', 'a-model', 'c-model'];
    const expected = async () => {
      const out = [];
      for (const name of [...names].sort()) {
        const vs = await modelVersions(ws, name).catch(() => null);
        if (!vs) continue;
        const aliases: Record<string, string> = {};
        for (const v of vs) for (const a of v.aliases) aliases[a] = v.ref.slice(name.length + 1);
        out.push({
          name,
          versions: vs.length,
          latest: vs[0] ? vs[0].ref.slice(name.length + 1) : null,
          updated: vs[0]!.created,
          aliases,
        });
      }
      return out;
    };
    for (let step = 0; step < 24; step++) {
      const name = names[Math.floor(rnd() * names.length)]!;
      const versions = await modelVersions(ws, name).catch(() => []);
      if (versions.length === 0 || rnd() < 0.55) {
        writeTree(join(root, `m${step}`), { 'w.json': JSON.stringify({ step }) });
        await registerModel(ws, { name, path: join(root, `m${step}`) });
      } else {
        const v = versions[Math.floor(rnd() * versions.length)]!;
        await promote(ws, v.ref, ['staging', 'canary', 'shadow'][Math.floor(rnd() * 3)]!, 'set');
      }
      expect(await listModels(ws), `step ${step}`).toEqual(await expected());
    }
  });

  it('registers a folder; verify re-hashes every byte and names a tampered file', async () => {
    const root = tmp();
    const ws = await newWorkspace(root, { actor: 'alice@example.com' });
    open.push(ws);
    writeTree(join(root, 'm'), { 'weights.npz': Buffer.alloc(50_000, 7), 'config.json': '{"layers": 2}' });
    writeFileSync(
      join(root, 'sig.json'),
      JSON.stringify({
        inputs: [{ name: 'x', type: 'float32', shape: [null, 4] }],
        outputs: [{ name: 'p', type: 'float32' }],
      }),
    );
    const r = await registerModel(ws, { name: 'np', path: join(root, 'm'), signature: join(root, 'sig.json') });
    expect([r.ref, r.format, r.card.signature?.inputs]).toEqual([
      'np@v1',
      'numpy',
      [{ name: 'x', type: 'float32', shape: [null, 4] }],
    ]);
    expect(await verifyModel(ws, 'np@v1')).toMatchObject({ ok: true, files: 2, bytes: 50_000 + 13 });
    // flip one byte inside the pack that holds the weights
    const packs = join(ws.cairnDir, 'objects', 'packs');
    const shard = readdirSync(packs)[0]!;
    const pack = join(packs, shard, readdirSync(join(packs, shard))[0]!);
    const buf = readFileSync(pack);
    buf[100]! ^= 0xff;
    writeFileSync(pack, buf);
    const bad = await verifyModel(ws, 'np@v1');
    expect(bad.ok).toBe(false);
    expect(bad.problems.map((p) => p.path)).toContain('weights.npz');
    const ev = await ws.meta.db
      .selectFrom('audit_events')
      .select(['action', 'outcome'])
      .where('action', '=', 'model.verify')
      .orderBy('idx')
      .execute();
    expect(ev.map((e) => e.outcome)).toEqual(['ok', 'failed']);
    // nothing tampered goes live or ships
    await expect(promote(ws, 'np@v1', 'staging', 'set')).rejects.toMatchObject({
      code: 'CORRUPT_OBJECT',
      message: expect.stringContaining('weights.npz'),
    });
    expect(await ws.meta.db.selectFrom('model_aliases').selectAll().execute()).toEqual([]);
  });

  it('promotion follows the alias policy: suites and a second person’s approval; self-approval is refused; history and rollback', async () => {
    const { root, ws, run } = await trained();
    await registerModel(ws, { name: 'toy', fromRun: run.id });
    writeTree(join(root, 'm2'), { 'model.onnx': 'weights-v2' });
    await registerModel(ws, { name: 'toy', path: join(root, 'm2') });
    await promote(ws, 'toy@v1', 'staging', 'set');
    await setPolicy(ws, 'toy', 'production', { suites: ['acceptance'], approvals: 1, separateApprover: true });
    await expect(promote(ws, 'toy@v1', 'production')).rejects.toMatchObject({
      code: 'POLICY_UNMET',
      data: {
        unmet: [
          'suite acceptance has not been run on v1',
          '1 approval(s) for production needed from someone other than who trained or registered it; 0 given',
        ],
      },
    });
    await expect(approve(ws, 'toy@v1', 'production')).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    const bob = await reopen(root, 'bob@example.com');
    open.push(bob);
    await approve(bob, 'toy@v1', 'production');
    const v1 = (await resolveModel(ws, 'toy@v1')).version;
    await ws.meta.db
      .insertInto('model_evaluations')
      .values({
        id: 'e1',
        version_id: v1.id,
        suite: 'acceptance',
        suite_digest: 'x',
        data_version_id: null,
        passed: 0,
        report: '{}',
        at: '2026-01-01T00:00:00.000Z',
        by: 'alice@example.com',
      })
      .execute();
    await expect(promote(ws, 'toy@v1', 'production')).rejects.toMatchObject({
      data: { unmet: ['suite acceptance failed on v1 (its latest evaluation)'] },
    });
    await ws.meta.db
      .insertInto('model_evaluations')
      .values({
        id: 'e2',
        version_id: v1.id,
        suite: 'acceptance',
        suite_digest: 'x',
        data_version_id: null,
        passed: 1,
        report: '{}',
        at: '2026-01-02T00:00:00.000Z',
        by: 'alice@example.com',
      })
      .execute();
    expect(await promote(ws, 'toy@v1', 'production')).toEqual({ ref: 'toy@v1', alias: 'production', previous: null });
    const before = new Date();
    await new Promise((r) => setTimeout(r, 5));
    await setPolicy(ws, 'toy', 'production', { suites: [], approvals: 0, separateApprover: true });
    expect((await promote(ws, 'toy@v2', 'production')).previous).toBe('toy@v1');
    expect((await resolveModel(ws, 'toy@production')).ref).toBe('toy@v2');
    expect(await rollback(ws, 'toy', 'production')).toEqual({
      alias: 'production',
      from: 'toy@v2',
      to: 'toy@v1',
      overridden: [],
    });
    expect((await resolveModel(ws, 'toy@production')).ref).toBe('toy@v1');
    expect(await history(ws, 'toy', { at: before })).toEqual({
      at: before.toISOString(),
      live: { staging: 'toy@v1', production: 'toy@v1' },
    });
    const h = await history(ws, 'toy', { alias: 'production' });
    expect(('events' in h ? (h.events ?? []) : []).map((e) => [e.action, e.previous, e.version])).toEqual([
      ['promote', null, 'toy@v1'],
      ['promote', 'toy@v1', 'toy@v2'],
      ['rollback', 'toy@v2', 'toy@v1'],
    ]);
    expect((await modelVersions(ws, 'toy')).map((v) => [v.ref, v.aliases])).toEqual([
      ['toy@v2', []],
      ['toy@v1', ['production', 'staging']],
    ]);
    const denied = await ws.meta.db
      .selectFrom('audit_events')
      .select(['action', 'outcome'])
      .where('outcome', '=', 'denied')
      .orderBy('idx')
      .execute();
    expect(denied.map((d) => d.action)).toEqual(['model.promote', 'model.approve', 'model.promote']);
  });

  it('rollback obeys the alias policy: a version that failed its suite goes back only with an audited override', async () => {
    const { root, ws, run } = await trained();
    await registerModel(ws, { name: 'toy', fromRun: run.id });
    writeTree(join(root, 'm2'), { 'model.onnx': 'weights-v2' });
    await registerModel(ws, { name: 'toy', path: join(root, 'm2') });
    await setPolicy(ws, 'toy', 'production', { suites: ['acceptance'], approvals: 0, separateApprover: true });
    const evaluation = async (ref: string, id: string, passed: number, at: string) =>
      ws.meta.db
        .insertInto('model_evaluations')
        .values({
          id,
          version_id: (await resolveModel(ws, ref)).version.id,
          suite: 'acceptance',
          suite_digest: 'x',
          data_version_id: null,
          passed,
          report: '{}',
          at,
          by: 'alice@example.com',
        })
        .execute();
    await evaluation('toy@v1', 'e1', 1, '2026-01-01T00:00:00.000Z');
    await evaluation('toy@v2', 'e2', 1, '2026-01-01T00:00:00.000Z');
    await promote(ws, 'toy@v1', 'production');
    await promote(ws, 'toy@v2', 'production');
    // v1 is evaluated again (new data) and fails: it may not simply be put back.
    await evaluation('toy@v1', 'e3', 0, '2026-01-03T00:00:00.000Z');
    await expect(rollback(ws, 'toy', 'production')).rejects.toMatchObject({
      code: 'POLICY_UNMET',
      data: { unmet: ['suite acceptance failed on v1 (its latest evaluation)'] },
    });
    expect((await resolveModel(ws, 'toy@production')).ref).toBe('toy@v2');
    await expect(rollback(ws, 'toy', 'production', { override: '  ' })).rejects.toMatchObject({ code: 'POLICY_UNMET' });
    expect(await rollback(ws, 'toy', 'production', { override: 'v2 crashes in prod, v1 is the lesser evil' })).toEqual({
      alias: 'production',
      from: 'toy@v2',
      to: 'toy@v1',
      overridden: ['suite acceptance failed on v1 (its latest evaluation)'],
    });
    expect((await resolveModel(ws, 'toy@production')).ref).toBe('toy@v1');
    const events = await ws.meta.db
      .selectFrom('audit_events')
      .select(['outcome', 'entry'])
      .where('action', '=', 'model.rollback')
      .orderBy('idx')
      .execute();
    expect(events.map((e) => e.outcome)).toEqual(['denied', 'denied', 'ok']);
    const ok = JSON.parse(events[2]!.entry) as { params: Record<string, unknown> };
    expect(ok.params).toMatchObject({
      override: 'v2 crashes in prod, v1 is the lesser evil',
      overridden: ['suite acceptance failed on v1 (its latest evaluation)'],
    });
  });
});
