import { describe, expect, it } from 'vitest';
import { emptyState, type RemoteState } from '../transfer/index.js';
import { buildStoreState, candidateState, servedState, withoutLog, type RecordedRows } from './server-state.js';
import { mulberry32 } from '../test-support/prng.js';

const hex = (n: number) => n.toString(16).padStart(64, '0');
const T = '2026-01-01T00:00:00.000Z';

function version(ds: number, number: number, digest: number) {
  return {
    id: `v${ds}-${number}-${digest}`,
    dataset_id: `d${ds}`,
    number,
    digest: hex(digest),
    parent_id: null,
    author: 'a',
    created_at: T,
    message: null,
    stats: '{}',
  } as unknown as RemoteState['versions'][number] & { packs: string[] };
}

/** A small deterministic PRNG (mulberry32): a failing history is replayed from its seed. */

/** A random history: versions the server recorded, some listed before, some proposed, some made up. */
function randomHistory(seed: number) {
  const r = mulberry32(seed);
  const int = (n: number) => Math.floor(r() * n);
  const list = <T>(max: number, f: () => T) => Array.from({ length: int(max + 1) }, f);
  const seen = new Set<string>();
  const recorded = list(12, () => [int(4), 1 + int(4), int(21)] as const).filter(([d, n]) => {
    const k = `${d}@${n}`;
    return !seen.has(k) && !!seen.add(k);
  });
  return {
    recorded,
    listedBefore: list(12, () => int(12)),
    proposed: list(12, () => int(12)),
    madeUp: list(6, () => [int(6), 1 + int(6), int(41)] as const),
    packs: list(3, () => int(6)),
    tags: list(6, () => [int(12), r() < 0.5 ? 'prod' : 'dev'] as const),
    // One entry per workspace, as a state and a pull's verified logs have.
    verified: [...new Map(list(4, () => [`w${1 + int(3)}`, int(51)] as const)).entries()],
    before: [...new Map(list(4, () => [`w${1 + int(3)}`, int(51)] as const)).entries()],
  };
}

describe('the store state a team server writes', () => {
  it('lists only versions the server recorded, as recorded, with the pack lists it listed first', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const h = randomHistory(seed);
      {
        const recordedVersions = h.recorded.map(([d, n, g]) => version(d, n, g));
        const recorded: RecordedRows = {
          datasets: [0, 1, 2, 3].map((d) => ({ id: `d${d}`, name: `ds${d}`, created_at: T, created_by: 'a' }) as never),
          versions: recordedVersions.map(({ packs: _p, ...v }) => v),
          tags: h.tags
            .filter(([i]) => i < recordedVersions.length)
            .map(([i, tag]) => ({
              dataset_id: recordedVersions[i]!.dataset_id,
              tag,
              version_id: recordedVersions[i]!.id,
              created_at: T,
              created_by: 'a',
            })),
          lineage: [],
          reports: [],
          documents: [],
          models: [],
          modelVersions: [],
          runs: [],
        };
        const pick = (ix: number[], packs: string[]) =>
          ix.filter((i) => i < recordedVersions.length).map((i) => ({ ...recordedVersions[i]!, packs }));
        const previous = emptyState();
        previous.versions = pick(h.listedBefore, ['aa'.repeat(32)]);
        previous.audit = h.before.map(([w, size]) => ({
          workspace: w,
          origin: 'o',
          size,
          root: 'r',
          key: `audit/${w}/`,
        }));
        const candidate = emptyState();
        candidate.versions = [
          ...pick(h.proposed, h.packs.map(hex)),
          // Made up: same ids with other digests, or versions nobody recorded.
          ...h.madeUp.map(([d, n, g]) => ({ ...version(d, n, g + 1000), packs: [] })),
          ...h.madeUp.map(([d, n, g]) => ({ ...version(d, n, g), digest: hex(g + 5000), packs: [] })),
        ];
        const verified = h.verified.map(([w, size]) => ({ workspace: w, origin: `o-${w}`, size, root: `r${size}` }));
        const next = buildStoreState({ previous, candidate, recorded, verified, storePacks: new Map() });

        const rows = new Map(recorded.versions.map((v) => [v.id, v]));
        const listedIds = new Set(previous.versions.map((v) => v.id));
        for (const v of next.versions) {
          const { packs, ...row } = v;
          expect(row).toEqual(rows.get(v.id));
          if (listedIds.has(v.id)) expect(packs).toEqual(['aa'.repeat(32)]);
        }
        const expected = new Set([...previous.versions, ...pick(h.proposed, [])].map((v) => v.id));
        expect(new Set(next.versions.map((v) => v.id))).toEqual(expected);
        const ids = new Set(next.versions.map((v) => v.id));
        expect(next.datasets.map((d) => d.id).sort()).toEqual(
          [...new Set(next.versions.map((v) => v.dataset_id))].sort(),
        );
        for (const t of next.tags) expect(ids.has(t.version_id)).toBe(true);
        // Audit entries never go back, and each verified log is there at least as far as verified.
        for (const a of previous.audit)
          expect(next.audit.find((x) => x.workspace === a.workspace)!.size).toBeGreaterThanOrEqual(a.size);
        for (const l of verified)
          expect(next.audit.find((x) => x.workspace === l.workspace)!.size).toBeGreaterThanOrEqual(l.size);
        expect(new Set(next.audit.map((a) => a.workspace)).size, `seed ${seed}`).toBe(next.audit.length);
      }
    }
  });
});

describe('what an import reads from a proposal', () => {
  const server = (): RemoteState => ({
    ...emptyState(),
    datasets: [{ id: 'd0', name: 'ds0', created_at: T, created_by: 'a' } as never],
    versions: [{ ...version(0, 1, 1), packs: [hex(9)] }],
    tags: [{ dataset_id: 'd0', tag: 'prod', version_id: version(0, 1, 1).id, created_at: T, created_by: 'a' }],
    audit: [{ workspace: 'w1', origin: 'o', size: 10, root: 'r', key: 'audit/w1/' }],
  });

  it("refuses moving another account's audit entry, or one's own to another key", () => {
    const own = (w: string) => w === 'w2';
    for (const audit of [
      [{ workspace: 'w1', origin: 'o', size: 11, root: 'x', key: 'audit/w1/' }],
      [{ workspace: 'w2', origin: 'o', size: 3, root: 'x', key: 'audit/w1/' }],
      [{ workspace: 'w3', origin: 'o', size: 1, root: 'x', key: 'audit/w3/' }],
    ])
      expect(() => candidateState(server(), { ...server(), audit }, own)).toThrow(
        expect.objectContaining({ code: 'PERMISSION_DENIED' }),
      );
    const ok = candidateState(
      server(),
      { ...server(), audit: [{ workspace: 'w2', origin: 'o', size: 3, root: 'x', key: 'audit/w2/' }] },
      own,
    );
    expect(ok.audit.map((a) => a.workspace)).toEqual(['w1', 'w2']);
  });

  it('keeps what the server lists: its pack lists and tags; a squat of a listed name conflicts', () => {
    const s = server();
    const v = s.versions[0]!;
    const c = candidateState(
      s,
      {
        ...s,
        versions: [{ ...v, packs: [hex(7)] }],
        tags: [{ dataset_id: 'd0', tag: 'prod', version_id: 'elsewhere', created_at: '2099-01-01', created_by: 'm' }],
      },
      () => true,
    );
    expect(c.versions[0]!.packs).toEqual([hex(9)]);
    expect(c.tags).toEqual(s.tags);
    expect(() =>
      candidateState(
        s,
        { ...emptyState(), datasets: [{ id: 'dX', name: 'ds0', created_at: T, created_by: 'm' } as never] },
        () => true,
      ),
    ).toThrow(expect.objectContaining({ code: 'DIVERGED' }));
  });
});

describe('model versions in the store state a team server writes', () => {
  const mv = (model: number, number: number, digest: number, files: string, by = 'pusher') => ({
    id: `m${model}-${number}-${digest}`,
    model_id: `model${model}`,
    number,
    digest: hex(digest),
    files_version_id: files,
    format: 'onnx',
    signature: null,
    run_id: null,
    card: `{"n":${number}}`,
    created_at: T,
    created_by: by,
  });

  it('lists exactly the model versions the server recorded (its row, its registrant) whose files it lists; edges only to those', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = mulberry32(seed);
      const int = (n: number) => Math.floor(r() * n);
      const list = <X>(max: number, f: () => X) => Array.from({ length: int(max + 1) }, f);
      // Dataset versions the server recorded; some are listed (so files of model versions may be kept or not).
      const dsRows = list(6, () => version(int(2), 1 + int(3), int(9)));
      const uniq = [...new Map(dsRows.map((v) => [`${v.dataset_id}@${v.number}`, v])).values()];
      const filesOf = () => (uniq.length && r() < 0.8 ? uniq[int(uniq.length)]!.id : 'not-recorded');
      const seen = new Set<string>();
      const recordedModels = list(8, () => mv(int(3), 1 + int(3), int(9), filesOf())).filter(
        (m) => !seen.has(`${m.model_id}@${m.number}`) && !!seen.add(`${m.model_id}@${m.number}`),
      );
      const recorded: RecordedRows = {
        datasets: [0, 1].map((d) => ({ id: `d${d}`, name: `ds${d}`, created_at: T, created_by: 'a' }) as never),
        versions: uniq.map(({ packs: _p, ...v }) => v),
        tags: [],
        lineage: recordedModels.map((m, i) => ({
          id: `e${i}`,
          src_type: 'dataset_version',
          src_id: m.files_version_id,
          dst_type: 'model_version',
          dst_id: m.id,
          relation: 'files',
          via_type: null,
          via_id: null,
          created_at: T,
        })),
        reports: [],
        documents: [],
        models: [0, 1, 2].map((i) => ({ id: `model${i}`, name: `spam${i}`, created_at: T, created_by: 'a' })),
        modelVersions: recordedModels,
        runs: [],
      };
      const pickM = (n: number) => list(n, () => recordedModels[int(recordedModels.length)]).filter((x) => !!x);
      const previous = emptyState();
      previous.versions = uniq.filter(() => r() < 0.5).map((v) => ({ ...v, packs: [] }));
      previous.modelVersions = pickM(4).map((m) => ({ ...m, created_by: 'stale' }));
      const candidate = emptyState();
      candidate.versions = uniq.filter(() => r() < 0.5).map((v) => ({ ...v, packs: [] }));
      candidate.modelVersions = [
        // Proposed with another registrant and card: the server's row is what is listed.
        ...pickM(4).map((m) => ({ ...m, created_by: 'mallory', card: '{"metrics":{"accuracy":1}}' })),
        // Made up: other digests under recorded ids, and ids nobody recorded.
        ...pickM(2).map((m) => ({ ...m, digest: hex(999) })),
        ...list(2, () => mv(int(3), 5 + int(3), int(9), filesOf())),
      ];
      candidate.lineage = recorded.lineage;
      const next = buildStoreState({ previous, candidate, recorded, verified: [], storePacks: new Map() });

      const listedVersions = new Set(next.versions.map((v) => v.id));
      const rows = new Map(recordedModels.map((m) => [m.id, m]));
      const expected = new Set(
        [...previous.modelVersions, ...candidate.modelVersions]
          .filter((m) => {
            const row = rows.get(m.id);
            return (
              row && row.digest === m.digest && row.number === m.number && listedVersions.has(row.files_version_id)
            );
          })
          .map((m) => m.id),
      );
      expect(new Set(next.modelVersions.map((m) => m.id)), `seed ${seed}`).toEqual(expected);
      for (const m of next.modelVersions) expect(m).toEqual(rows.get(m.id));
      expect(next.models.map((m) => m.id).sort()).toEqual(
        [...new Set(next.modelVersions.map((m) => m.model_id))].sort(),
      );
      for (const e of next.lineage) if (e.dst_type === 'model_version') expect(expected.has(e.dst_id)).toBe(true);
    }
  });

  it("an import's proposal cannot change a model version the server lists; another digest under its number conflicts", () => {
    const s: RemoteState = {
      ...emptyState(),
      models: [{ id: 'model0', name: 'spam', created_at: T, created_by: 'bob' }],
      modelVersions: [mv(0, 1, 1, 'files')],
    };
    const c = candidateState(
      s,
      { ...s, modelVersions: [{ ...mv(0, 1, 1, 'elsewhere', 'mallory'), card: '{"metrics":{"accuracy":1}}' }] },
      () => true,
    );
    expect(c.modelVersions).toEqual(s.modelVersions);
    expect(() =>
      candidateState(s, { ...s, modelVersions: [{ ...mv(0, 1, 2, 'files'), id: mv(0, 1, 1, '').id }] }, () => true),
    ).toThrow(expect.objectContaining({ code: 'DIVERGED' }));
    expect(() =>
      candidateState(
        s,
        { ...emptyState(), models: [{ id: 'modelX', name: 'spam', created_at: T, created_by: 'm' }] },
        () => true,
      ),
    ).toThrow(expect.objectContaining({ code: 'DIVERGED' }));
  });
});

describe('runs in the store state a team server writes', () => {
  const run = (n: number, status: string, output: string | null, by = 'pusher') =>
    ({
      id: `run${n}`,
      run_key: hex(n),
      name: 'train',
      project: 'default',
      spec_digest: hex(1),
      spec: '{}',
      backend: 'local',
      backend_id: null,
      status,
      reason: null,
      exit_code: status === 'completed' ? 0 : 1,
      priority: 0,
      gpus: 0,
      cpus: 1,
      memory_mb: 0,
      time_limit_s: 60,
      created_at: T,
      created_by: by,
      started_at: T,
      ended_at: T,
      restarts: 0,
      code_commit: null,
      code_dirty: null,
      env_digest: null,
      output_version_id: output,
      reused_from: null,
      usage: '{}',
      human_name: `r${n}`,
      tags: '{}',
      note: null,
      params: [{ name: 'lr', value: '0.1' }],
      metrics: [{ name: 'loss', step: 0, value: n, time: T }],
    }) as RemoteState['runs'][number];

  it('lists exactly the runs the server recorded (its row, its author, its points) whose output it lists; edges only to those', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = mulberry32(seed);
      const int = (n: number) => Math.floor(r() * n);
      const list = <X>(max: number, f: () => X) => Array.from({ length: int(max + 1) }, f);
      const dsRows = list(6, () => version(int(2), 1 + int(3), int(9)));
      const uniq = [...new Map(dsRows.map((v) => [`${v.dataset_id}@${v.number}`, v])).values()];
      const outputOf = () =>
        r() < 0.2 ? null : uniq.length && r() < 0.8 ? uniq[int(uniq.length)]!.id : 'not-recorded';
      const recordedRuns = [
        ...new Map(
          list(8, () => run(int(12), r() < 0.7 ? 'completed' : 'failed', outputOf())).map((x) => [x.id, x]),
        ).values(),
      ];
      const recorded: RecordedRows = {
        datasets: [0, 1].map((d) => ({ id: `d${d}`, name: `ds${d}`, created_at: T, created_by: 'a' }) as never),
        versions: uniq.map(({ packs: _p, ...v }) => v),
        tags: [],
        lineage: recordedRuns.flatMap((x, i) =>
          x.output_version_id
            ? [
                {
                  id: `e${i}`,
                  src_type: 'run',
                  src_id: x.id,
                  dst_type: 'dataset_version',
                  dst_id: x.output_version_id,
                  relation: 'output',
                  via_type: null,
                  via_id: null,
                  created_at: T,
                },
              ]
            : [],
        ),
        reports: [],
        documents: [],
        models: [],
        modelVersions: [],
        runs: recordedRuns,
      };
      const pick = (n: number) => list(n, () => recordedRuns[int(recordedRuns.length)]).filter((x) => !!x);
      const previous = emptyState();
      previous.versions = uniq.filter(() => r() < 0.5).map((v) => ({ ...v, packs: [] }));
      previous.runs = pick(4).map((x) => ({ ...x, created_by: 'stale' }));
      const candidate = emptyState();
      candidate.versions = uniq.filter(() => r() < 0.5).map((v) => ({ ...v, packs: [] }));
      candidate.runs = [
        // Proposed with another author and better metrics: the server's row is what is listed.
        ...pick(4).map((x) => ({
          ...x,
          created_by: 'mallory',
          metrics: [{ name: 'loss', step: 0, value: -1, time: T }],
        })),
        // Made up: another status or key under recorded ids, and ids nobody recorded.
        ...pick(2).map((x) => ({ ...x, status: x.status === 'completed' ? 'failed' : 'completed' })),
        ...pick(2).map((x) => ({ ...x, run_key: hex(999) })),
        ...list(2, () => run(100 + int(9), 'completed', outputOf())),
      ];
      candidate.lineage = recorded.lineage;
      const next = buildStoreState({ previous, candidate, recorded, verified: [], storePacks: new Map() });

      const listedVersions = new Set(next.versions.map((v) => v.id));
      const rows = new Map(recordedRuns.map((x) => [x.id, x]));
      const expected = new Set(
        [...previous.runs, ...candidate.runs]
          .filter((x) => {
            const row = rows.get(x.id);
            return (
              row &&
              row.run_key === x.run_key &&
              row.status === x.status &&
              row.output_version_id === x.output_version_id &&
              (row.output_version_id === null || listedVersions.has(row.output_version_id))
            );
          })
          .map((x) => x.id),
      );
      expect(new Set(next.runs.map((x) => x.id)), `seed ${seed}`).toEqual(expected);
      for (const x of next.runs) expect(x).toEqual(rows.get(x.id));
      for (const e of next.lineage) if (e.src_type === 'run') expect(expected.has(e.src_id), `seed ${seed}`).toBe(true);
    }
  });

  it("an import's proposal cannot change a run the server lists; another status under its id conflicts", () => {
    const s: RemoteState = { ...emptyState(), runs: [run(1, 'completed', null, 'bob')] };
    const c = candidateState(s, { ...s, runs: [{ ...run(1, 'completed', null, 'mallory'), metrics: [] }] }, () => true);
    expect(c.runs).toEqual(s.runs);
    expect(() => candidateState(s, { ...s, runs: [run(1, 'failed', null)] }, () => true)).toThrow(
      expect.objectContaining({ code: 'DIVERGED' }),
    );
  });
});

describe('the state the server serves', () => {
  const entry = (workspace: string, size: number) => ({
    workspace,
    origin: `o/${workspace}`,
    size,
    root: hex(size),
    key: `audit/${workspace}/`,
  });
  it('lists its evaluations of listed model versions on listed test sets, and its own log entry (seeded)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = mulberry32(seed);
      const s = emptyState();
      for (let i = 0; i < 4; i++) if (r() < 0.6) s.versions.push({ ...version(i, 1, i + 1), packs: [] });
      for (let m = 0; m < 3; m++)
        if (r() < 0.6) s.modelVersions.push({ id: `mv${m}` } as unknown as RemoteState['modelVersions'][number]);
      // A client's copy of the server's entry, at a size it made up, and a pushed workspace's.
      s.audit = [entry('server', 999), entry('laptop', 3)];
      const rows = Array.from({ length: 6 }, (_, i) => ({
        id: `e${i}`,
        version_id: `mv${Math.floor(r() * 4)}`,
        data_version_id: r() < 0.2 ? null : `v${Math.floor(r() * 5)}-1-${Math.floor(r() * 5) + 1}`,
      })) as unknown as RemoteState['evaluations'];
      const out = servedState(s, { evaluations: rows, ownLog: entry('server', 7) });
      const models = new Set(s.modelVersions.map((v) => v.id));
      const versions = new Set(s.versions.map((v) => v.id));
      expect(
        out.evaluations.map((e) => e.id),
        `seed ${seed}`,
      ).toEqual(rows.filter((e) => models.has(e.version_id) && versions.has(e.data_version_id ?? '')).map((e) => e.id));
      expect(out.audit).toEqual([entry('laptop', 3), entry('server', 7)]);
    }
  });

  it('lists the finished runs it trained whose inputs and output it lists, with their edges to listed rows (seeded)', () => {
    const STATUSES = ['completed', 'failed', 'cancelled', 'running', 'queued', 'reused'];
    for (let seed = 1; seed <= 200; seed++) {
      const r = mulberry32(seed);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
      const s = emptyState();
      for (let i = 0; i < 4; i++) if (r() < 0.6) s.versions.push({ ...version(i, 1, i + 1), packs: [] });
      const some = () => `v${Math.floor(r() * 5)}-1-${Math.floor(r() * 5) + 1}`;
      const row = (n: number) => {
        const status = pick(STATUSES);
        const inputs = Array.from({ length: Math.floor(r() * 3) }, () => ({ versionId: some() }));
        return {
          id: `run${n}`,
          status,
          reused_from: status === 'reused' ? 'run0' : null,
          output_version_id: r() < 0.4 ? null : some(),
          spec: r() < 0.05 ? 'not json' : JSON.stringify({ inputs }),
          created_by: 'server-row',
        } as unknown as RemoteState['runs'][number];
      };
      // A pushed run the state lists already keeps its listed row.
      s.runs = r() < 0.5 ? [{ ...row(0), created_by: 'listed' }] : [];
      const trained = Array.from({ length: 6 }, (_, n) => row(n));
      const edge = (i: number) => {
        const run = pick(trained).id;
        const [a, b] =
          r() < 0.5
            ? [
                ['dataset_version', some()],
                ['run', run],
              ]
            : [
                ['run', run],
                ['dataset_version', some()],
              ];
        return { id: `e${i}`, src_type: a![0], src_id: a![1], dst_type: b![0], dst_id: b![1] };
      };
      const lineage = Array.from({ length: 8 }, (_, i) => edge(i)) as unknown as RemoteState['lineage'];
      const out = servedState(s, { evaluations: [], ownLog: null, trained: { runs: trained, lineage } });
      const versions = new Set(s.versions.map((v) => v.id));
      const want = trained.filter(
        (x) =>
          !s.runs.some((l) => l.id === x.id) &&
          ['completed', 'failed', 'cancelled'].includes(x.status) &&
          (x.output_version_id === null || versions.has(x.output_version_id)) &&
          x.spec !== 'not json' &&
          (JSON.parse(x.spec) as { inputs: Array<{ versionId: string }> }).inputs.every((i) =>
            versions.has(i.versionId),
          ),
      );
      const where = `seed ${seed}`;
      expect(out.runs.map((x) => x.id).sort(), where).toEqual([...s.runs, ...want].map((x) => x.id).sort());
      expect(out.runs.find((x) => x.id === 'run0')?.created_by ?? null, where).toBe(
        s.runs[0]?.created_by ?? (want.some((x) => x.id === 'run0') ? 'server-row' : null),
      );
      // Edges of the runs it added (a listed run's came with it), both ends listed.
      const added = new Set(want.map((x) => x.id));
      const listed = (type: string, id: string) => (type === 'run' ? added.has(id) : versions.has(id));
      expect(out.lineage.map((e) => e.id).sort(), where).toEqual(
        lineage
          .filter((e) => listed(e.src_type, e.src_id) && listed(e.dst_type, e.dst_id))
          .map((e) => e.id)
          .sort(),
      );
    }
  });

  it('adds its own outputs and the models on them, but none that would clash with a listed row or has no packs', () => {
    const s = emptyState();
    s.datasets = [{ id: 'd1', name: 'runs/a' }] as RemoteState['datasets'];
    s.versions = [{ ...version(1, 1, 1), packs: ['p1'] }];
    s.models = [{ id: 'm1', name: 'clf' }] as RemoteState['models'];
    const own = (id: string, ds: string, number: number, packs: string[]) => ({
      ...version(0, number, number + 10),
      id,
      dataset_id: ds,
      packs,
    });
    const mv = (id: string, model: string, number: number, files: string) =>
      ({ id, model_id: model, number, files_version_id: files }) as RemoteState['modelVersions'][number];
    const out = servedState(s, {
      evaluations: [],
      ownLog: null,
      trained: {
        runs: [],
        lineage: [],
        outputs: {
          // d1 already listed (v2 fits after its v1); d9 is another dataset named runs/a; d2 is new.
          datasets: [
            { id: 'd9', name: 'runs/a' },
            { id: 'd2', name: 'runs/b' },
          ] as RemoteState['datasets'],
          versions: [
            own('own-a2', 'd1', 2, ['p2']),
            own('clash-number', 'd1', 1, ['p3']),
            own('clash-name', 'd9', 1, ['p4']),
            own('no-packs', 'd2', 2, []),
            own('own-b1', 'd2', 1, ['p5']),
          ],
          packs: ['p1', 'p2', 'p3', 'p4', 'p5'].map((id) => ({ id, size: 7 })),
          models: [
            { id: 'm9', name: 'clf' },
            { id: 'm2', name: 'other' },
          ] as RemoteState['models'],
          modelVersions: [
            mv('mv-ok', 'm2', 1, 'own-b1'),
            mv('mv-unlisted-files', 'm2', 2, 'no-packs'),
            mv('mv-clash-name', 'm9', 1, 'own-a2'),
          ],
          lineage: [
            {
              id: 'e-files',
              src_type: 'dataset_version',
              src_id: 'own-b1',
              dst_type: 'model_version',
              dst_id: 'mv-ok',
              relation: 'files',
            },
            {
              id: 'e-trained',
              src_type: 'run',
              src_id: 'nowhere',
              dst_type: 'model_version',
              dst_id: 'mv-ok',
              relation: 'trained',
            },
            {
              id: 'e-other',
              src_type: 'dataset_version',
              src_id: 'own-a2',
              dst_type: 'model_version',
              dst_id: 'mv-clash-name',
              relation: 'files',
            },
          ] as RemoteState['lineage'],
        },
      },
    });
    expect(out.versions.map((v) => v.id).sort()).toEqual(['own-a2', 'own-b1', 'v1-1-1']);
    expect(out.datasets.map((d) => d.id)).toEqual(['d1', 'd2']);
    expect(out.packs.map((p) => p.id)).toEqual(['p1', 'p2', 'p5']);
    expect(out.modelVersions.map((v) => v.id)).toEqual(['mv-ok']);
    expect(out.models.map((m) => m.id)).toEqual(['m1', 'm2']);
    // The run edge points at a run the state does not list: left out.
    expect(out.lineage.map((e) => e.id)).toEqual(['e-files']);
  });

  it("drops a proposal's entry for the server's log (only the server moves it), and nothing else", () => {
    const s = { ...emptyState(), audit: [entry('server', 10), entry('laptop', 3)] };
    expect(withoutLog(s, 'server').audit).toEqual([entry('laptop', 3)]);
    expect(withoutLog(s, undefined)).toBe(s);
  });
});
