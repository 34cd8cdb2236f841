import { describe, expect, it } from 'vitest';
import { emptyState, type RemoteState } from '../transfer/index.js';
import { mulberry32 } from '../test-support/prng.js';
import { cutState, listedKey, packKeyOf, readablePacks, redactedLines, workspaceEventVisible } from './store-scope.js';
import { importShown, parseEntries, redactLines } from './read-scope.js';

const hex = (rand: () => number, n = 64) =>
  Array.from({ length: n }, () => '0123456789abcdef'[Math.floor(rand() * 16)]).join('');

/**
 * A random store: datasets, some of them another project's run outputs (`runs/<spec>`), versions
 * sharing packs at random (deduplication across projects), tags, reports and lineage edges.
 */
function randomStore(seed: number): { state: RemoteState; hidden: Set<string> } {
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const packs = Array.from({ length: 1 + Math.floor(rand() * 12) }, () => hex(rand));
  const s = emptyState();
  const hidden = new Set<string>();
  const nd = 1 + Math.floor(rand() * 5);
  for (let d = 0; d < nd; d++) {
    const id = `ds${d}`;
    const name = rand() < 0.4 ? `runs/spec${d}` : `data${d}`;
    s.datasets.push({ id, name, created_at: '', created_by: 'x' });
    const nv = 1 + Math.floor(rand() * 3);
    for (let n = 1; n <= nv; n++) {
      const vid = `${id}v${n}`;
      const used = packs.filter(() => rand() < 0.3);
      s.versions.push({
        id: vid,
        dataset_id: id,
        number: n,
        digest: hex(rand),
        parent_id: null,
        message: '',
        packs: used.length ? used : [pick(packs)],
      } as RemoteState['versions'][number]);
      // Another project's run output, version by version (a reader may read some runs of a spec).
      if (name.startsWith('runs/') && rand() < 0.6) hidden.add(`${name}@v${n}`);
      if (rand() < 0.3) s.tags.push({ dataset_id: id, tag: `t${n}`, version_id: vid, created_at: '', created_by: 'x' });
      if (rand() < 0.3)
        s.reports.push({
          id: `r${vid}`,
          version_id: vid,
          kind: 'k',
          digest: '',
          created_at: '',
          created_by: 'x',
          summary: '',
          body: '',
        } as RemoteState['reports'][number]);
    }
  }
  const versionIds = s.versions.map((v) => v.id);
  for (let e = 0; e < Math.floor(rand() * 6); e++) {
    const via = rand() < 0.3 ? { via_type: 'run', via_id: `run${e}` } : { via_type: null, via_id: null };
    s.lineage.push({
      id: `e${e}`,
      src_type: rand() < 0.2 ? 'run' : 'dataset_version',
      src_id: pick(versionIds),
      dst_type: 'dataset_version',
      dst_id: pick(versionIds),
      relation: 'derived',
      ...via,
      created_at: '',
    });
  }
  const used = new Set(s.versions.flatMap((v) => v.packs));
  s.packs = packs.filter((p) => used.has(p)).map((id) => ({ id, size: 100 }));
  return { state: s, hidden };
}

describe('what a reader of some projects reads of the store (seeded property)', () => {
  it('no hidden version, nor a pack only hidden versions use, reaches them through the state, a listing or a read', () => {
    for (let seed = 1; seed <= 400; seed++) {
      const { state, hidden } = randomStore(seed);
      const names = new Map(state.datasets.map((d) => [d.id, d.name]));
      const ref = (v: RemoteState['versions'][number]) => `${names.get(v.dataset_id)}@v${v.number}`;
      const shown = state.versions.filter((v) => !hidden.has(ref(v)));
      const hiddenVersions = state.versions.filter((v) => hidden.has(ref(v)));
      const readable = new Set(shown.flatMap((v) => v.packs));
      const onlyHidden = new Set(hiddenVersions.flatMap((v) => v.packs).filter((p) => !readable.has(p)));
      const view = cutState(state, hidden);
      const text = JSON.stringify(view.state);
      // Every pack a readable version uses stays readable (a shared pack included)…
      expect([...view.packs].sort(), `seed ${seed}`).toEqual([...readable].map(packKeyOf).sort());
      expect([...readablePacks(state, hidden)].sort()).toEqual([...view.packs].sort());
      for (const p of readable) expect(listedKey(packKeyOf(p), view, false)).toBe(true);
      // …and nothing only a hidden version uses is named anywhere.
      for (const p of onlyHidden) {
        expect(text, `seed ${seed}`).not.toContain(p);
        expect(listedKey(packKeyOf(p), view, false)).toBe(false);
      }
      for (const v of hiddenVersions) {
        expect(text, `seed ${seed}`).not.toContain(`"${v.id}"`);
        expect(text).not.toContain(v.digest);
      }
      expect(view.state.versions.map((v) => v.id)).toEqual(shown.map((v) => v.id));
      // No lineage edge names a run (a pushed workspace's runs are of projects the server cannot place).
      expect(view.state.lineage.filter((e) => [e.src_type, e.dst_type, e.via_type].includes('run'))).toEqual([]);
      // Control: a reader of every run's project (nothing hidden) keeps every version and pack.
      const whole = cutState(state, new Set());
      expect(whole.state.versions).toHaveLength(state.versions.length);
      expect(whole.state.packs).toEqual(state.packs);
    }
  });

  it("keys outside the layout's readable parts are never listed; a pushed log's entries only to whole-log readers", () => {
    const view = { state: null, packs: new Set<string>() };
    for (const k of [
      'owners/w.json',
      'uploaders/aa/x.pack.json',
      'incoming/u.pack',
      'proposals/x.json',
      'meta/state.json',
    ])
      expect(listedKey(k, view, true)).toBe(false);
    expect(listedKey('cairn-remote.json', view, false)).toBe(true);
    expect(listedKey('audit/w1/checkpoints/000000000001.note', view, false)).toBe(true);
    expect(listedKey('audit/w1/entries.jsonl', view, false)).toBe(false);
    expect(listedKey('audit/w1/entries.jsonl', view, true)).toBe(true);
  });

  it("another workspace's events: only what vouches for versions (and key rotations), never a run's", () => {
    const outputs = { refs: new Set(['runs/secret@v1']), datasets: new Set(['runs/secret']) };
    const rand = mulberry32(7);
    const actions = [
      'dataset.version.create',
      'dataset.clean',
      'run.submit',
      'run.finish',
      'model.register',
      'keys.rotate',
    ];
    const types = ['dataset', 'dataset_version', 'run', 'model', 'project'];
    for (let i = 0; i < 2000; i++) {
      const action = actions[Math.floor(rand() * actions.length)]!;
      const type = types[Math.floor(rand() * types.length)]!;
      const name = rand() < 0.5 ? 'runs/secret' : 'data';
      const e = { action, target: { type, name, version: 1 + Math.floor(rand() * 2) } };
      const shown = workspaceEventVisible(e, outputs);
      if (action.startsWith('run.') || action.startsWith('model.')) expect(shown).toBe(false);
      if (shown && name === 'runs/secret') expect(e.target.version).not.toBe(1);
    }
    expect(workspaceEventVisible({ action: 'dataset.version.create', target: { name: 'data' } }, outputs)).toBe(true);
    expect(workspaceEventVisible(null, outputs)).toBe(false);
  });

  it("a reader's runs: those of their projects whose versions they keep, and nothing of the others (seeded property)", () => {
    const PROJECTS = ['p0', 'p1', 'p2'];
    for (let seed = 1; seed <= 300; seed++) {
      const { state, hidden } = randomStore(seed);
      const rand = mulberry32(seed * 7919);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
      const ids = state.versions.map((v) => v.id);
      for (let i = 0; i < Math.floor(rand() * 6); i++) {
        const inputs = ids.filter(() => rand() < 0.3).map((versionId) => ({ name: 'in', versionId, digest: '' }));
        state.runs.push({
          id: `run${i}`,
          project: pick(PROJECTS),
          name: `spec-secret-${i}`,
          output_version_id: rand() < 0.6 ? pick(ids) : null,
          spec: rand() < 0.05 ? '{' : JSON.stringify({ inputs, spec: {} }),
          params: [{ name: `param-secret-${i}`, value: '1' }],
          metrics: [],
        } as unknown as RemoteState['runs'][number]);
        state.lineage.push({
          id: `re${i}`,
          src_type: 'run',
          src_id: `run${i}`,
          dst_type: 'dataset_version',
          dst_id: pick(ids),
          relation: 'output',
          via_type: null,
          via_id: null,
          created_at: '',
        });
      }
      for (let m = 0; m < 3; m++) {
        state.modelVersions.push({ id: `mv${m}`, model_id: 'm', files_version_id: pick(ids) } as never);
        state.evaluations.push({ id: `ev${m}`, version_id: `mv${m}`, data_version_id: pick(ids) } as never);
      }
      const reads = new Set(PROJECTS.filter(() => rand() < 0.5));
      const cut = cutState(state, hidden, (p) => reads.has(p)).state;
      const kept = new Set(cut.versions.map((v) => v.id));
      const inputsOf = (r: RemoteState['runs'][number]): string[] | null => {
        try {
          return (JSON.parse(r.spec) as { inputs: Array<{ versionId: string }> }).inputs.map((i) => i.versionId);
        } catch {
          return null;
        }
      };
      const want = state.runs.filter(
        (r) =>
          reads.has(r.project) &&
          (r.output_version_id === null || kept.has(r.output_version_id)) &&
          (inputsOf(r)?.every((v) => kept.has(v)) ?? false),
      );
      expect(
        cut.runs.map((r) => r.id),
        `seed ${seed}`,
      ).toEqual(want.map((r) => r.id));
      const keptRuns = new Set(want.map((r) => r.id));
      const text = JSON.stringify(cut);
      for (const r of state.runs.filter((x) => !keptRuns.has(x.id))) {
        expect(text, `seed ${seed}`).not.toContain(`"${r.id}"`);
        expect(text).not.toContain(r.name);
        expect(text).not.toContain(r.params[0]!.name);
      }
      for (const e of cut.lineage)
        for (const [type, id] of [
          [e.src_type, e.src_id],
          [e.dst_type, e.dst_id],
        ] as const) {
          if (type === 'run') expect(keptRuns.has(id)).toBe(true);
          if (type === 'dataset_version') expect(kept.has(id)).toBe(true);
        }
      const keptModels = new Set(cut.modelVersions.map((v) => v.id));
      expect(cut.evaluations.map((e) => e.id)).toEqual(
        state.evaluations.filter((e) => keptModels.has(e.version_id) && kept.has(e.data_version_id!)).map((e) => e.id),
      );
    }
  });

  it("an import event naming another project's run, a refused run or another project's output is withheld", () => {
    const outputs = { refs: new Set(['runs/secret@v1']), datasets: new Set(['runs/secret']) };
    const reads = (p: string) => p === 'mine';
    const pull = (params: Record<string, unknown>) => ({ action: 'remote.pull', params });
    const run = (project: unknown) => ({ run: 'r', claim: { project } });
    expect(importShown(pull({ importedRuns: [run('mine')] }), outputs, reads)).toBe(true);
    expect(importShown(pull({ importedRuns: [run('mine'), run('theirs')] }), outputs, reads)).toBe(false);
    expect(importShown(pull({ importedRuns: [run(undefined)] }), outputs, reads)).toBe(false);
    expect(importShown(pull({ skippedRuns: [{ run: 'r', name: 'n' }] }), outputs, reads)).toBe(false);
    expect(importShown(pull({ imported: [{ dataset: 'runs/secret', number: 1 }] }), outputs, reads)).toBe(false);
    expect(importShown(pull({ imported: [{ dataset: 'runs/secret', number: 2 }] }), outputs, reads)).toBe(true);
    expect(importShown(pull({ skipped: [{ dataset: 'runs/secret' }] }), outputs, reads)).toBe(false);
    expect(importShown({ ...pull({ importedRuns: [run('theirs')] }), action: 'workspace.clone' }, outputs, reads)).toBe(
      false,
    );
    // Other events are not its business.
    expect(importShown({ action: 'run.submit', params: { importedRuns: [run('theirs')] } }, outputs, reads)).toBe(true);
    // A pushed workspace's import event: withheld by the same rule.
    const ev = { ...pull({ importedRuns: [run('theirs')] }), target: { type: 'remote', name: 'x' } };
    expect(workspaceEventVisible(ev, outputs, reads)).toBe(false);
    expect(workspaceEventVisible({ ...ev, params: { importedRuns: [run('mine')] } }, outputs, reads)).toBe(true);
  });
});

describe('a pushed log redacted as it streams', () => {
  it('is the log redacted whole, however its bytes are cut (seeded; multibyte text, empty and unended lines)', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rand = mulberry32(seed);
      const lines = Array.from({ length: Math.floor(rand() * 30) }, (_, i) => {
        const r = rand();
        if (r < 0.1) return '';
        if (r < 0.2) return 'not json ✓';
        if (r < 0.3) return `#redacted ${hex(rand)}`;
        return JSON.stringify({
          action: rand() < 0.5 ? 'shown' : 'hidden',
          n: i,
          note: 'é€😀'.repeat(Math.floor(rand() * 4)),
        });
      });
      const text = lines.join('\n') + (rand() < 0.7 ? '\n' : '');
      const shown = (e: unknown) => (e as { action?: string } | null)?.action === 'shown';
      const bytes = Buffer.from(text);
      const chunks: Buffer[] = [];
      for (let at = 0; at < bytes.length;) {
        const n = 1 + Math.floor(rand() * 40);
        chunks.push(bytes.subarray(at, at + n));
        at += n;
      }
      const out: Buffer[] = [];
      for await (const b of redactedLines(
        (async function* () {
          yield* chunks;
        })(),
        shown,
      ))
        out.push(b);
      expect(Buffer.concat(out).toString(), `seed ${seed}`).toBe(redactLines(parseEntries(text), shown).text);
    }
  });
});
