import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../core/canonical-json.js';
import { sha256Hex } from '../core/digest.js';
import { mulberry32 } from '../test-support/prng.js';
import { emptyState, type EvaluationStateRow } from './state.js';
import {
  collectEvaluationVouchers,
  planEvaluationImport,
  type EvaluationImportPlan,
  type EvaluationVouchers,
} from './vouch-evaluations.js';

const hex = (n: number) => n.toString(16).padStart(64, '0');
const MODEL_VERSIONS = new Map([1, 2, 3].map((n) => [`mv-${n}`, { model: 'clf', number: n, digest: hex(n) }]));
const VERSIONS = new Map([1, 2].map((n) => [`dv-${n}`, hex(100 + n)]));
const REFS = new Map([1, 2].map((n) => [`dv-${n}`, `eval@v${n}`]));

/** A workspace (or the server): its evaluation rows and its log, as entry texts. */
interface Side {
  workspace: string;
  /** Who its own events name: the laptop's actor, or (server) the account that asked. */
  author: string;
  rows: Map<string, EvaluationStateRow>;
  log: string[];
}

function side(workspace: string, author: string): Side {
  return { workspace, author, rows: new Map(), log: [] };
}

function append(s: Side, e: Record<string, unknown>): void {
  s.log.push(canonicalJson({ ...e, workspace: s.workspace, index: s.log.length, outcome: e.outcome ?? 'ok' }));
}

/** Runs an evaluation on `s`: its row, and the model.evaluate event its log records. */
function evaluate(s: Side, r: () => number, n: number): void {
  const mv = `mv-${1 + Math.floor(r() * 3)}`;
  const dv = `dv-${1 + Math.floor(r() * 2)}`;
  const passed = r() < 0.6;
  const suite = r() < 0.5 ? 'acceptance' : 'smoke';
  const report = canonicalJson({
    n,
    passed,
    suite,
    data: REFS.get(dv),
    metrics: { accuracy: Math.floor(r() * 1000) / 1000 },
  });
  const row: EvaluationStateRow = {
    id: `e-${n}`,
    version_id: mv,
    suite,
    suite_digest: hex(7),
    data_version_id: dv,
    passed: passed ? 1 : 0,
    report,
    at: `2026-01-01T00:00:${String(n % 60).padStart(2, '0')}.000Z`,
    by: s.author,
  };
  s.rows.set(row.id, row);
  const v = MODEL_VERSIONS.get(mv)!;
  append(s, {
    action: 'model.evaluate',
    actor: { id: s.author },
    target: { type: 'model', name: v.model, version: v.number, digest: `sha256:${v.digest}` },
    ...(passed ? {} : { outcome: 'failed', reason: 'CHECK_FAILED: 1 check(s) failed' }),
    params: {
      // Events from before the id and the test set's digest were logged vouch by report alone.
      ...(r() < 0.3 ? {} : { evaluation: row.id, dataDigest: `sha256:${VERSIONS.get(dv)}` }),
      suite,
      suiteDigest: `sha256:${hex(7)}`,
      passed,
      report: `sha256:${sha256Hex(report)}`,
    },
  });
}

/** What `to` takes of `from`'s rows, vouched by every log but its own (as fetchVerifiedLogs reads them). */
function plan(from: Side, to: Side, sides: Side[], registrant: string | null, rows = [...from.rows.values()]) {
  const vouchers: EvaluationVouchers = new Map();
  for (const s of sides)
    if (s !== to) collectEvaluationVouchers(vouchers, { workspace: s.workspace, origin: s.workspace }, s.log);
  const state = { ...emptyState(), evaluations: rows };
  const local = {
    ids: new Set(to.rows.keys()),
    reports: new Set([...to.rows.values()].map((e) => `sha256:${sha256Hex(e.report)}`)),
  };
  return planEvaluationImport(state, vouchers, {
    local,
    modelVersions: MODEL_VERSIONS,
    versions: VERSIONS,
    versionRefs: REFS,
    registrant,
  });
}

function apply(to: Side, p: EvaluationImportPlan, action: 'remote.pull' | 'workspace.clone', actor: string): void {
  for (const e of p.evaluations) to.rows.set(e.id, e);
  append(to, { action, actor: { id: actor }, params: { importedEvaluations: p.imported } });
}

function noDuplicates(s: Side): void {
  const reports = [...s.rows.values()].map((e) => sha256Hex(e.report));
  expect(new Set(reports).size, `${s.workspace} holds a report twice`).toBe(reports.length);
}

describe('evaluations over random push and pull histories', () => {
  it('never duplicate (a copy under another id is never taken), never get lost, never change their verdict (40 seeds × 60 steps)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = mulberry32(seed);
      const a = side('ws-a', 'alice@laptop');
      const b = side('ws-b', 'bob@laptop');
      const server = side('ws-s', 'dana');
      const sides = [a, b, server];
      const account = new Map([
        [a, 'alice'],
        [b, 'bob'],
      ]);
      const origin = new Map<string, EvaluationStateRow>();
      for (let step = 0; step < 60; step++) {
        const x = r() < 0.5 ? a : b;
        const what = r();
        if (what < 0.35) evaluate(r() < 0.8 ? x : server, r, step);
        else if (what < 0.7) {
          // x pushes: the server takes every row of x it lacks, each under x's account. Now and
          // then the push also carries a copy of one of them under another id: never taken.
          const rows = [...x.rows.values()];
          const copied =
            rows.length && r() < 0.3 ? { ...rows[Math.floor(r() * rows.length)]!, id: `copy-${step}` } : null;
          const p = plan(x, server, sides, account.get(x)!, copied ? [...rows, copied] : rows);
          expect(p.evaluations.map((e) => e.id)).not.toContain(copied?.id);
          expect(
            p.skipped.filter((e) => e.evaluation !== copied?.id),
            `seed ${seed} step ${step}`,
          ).toEqual([]);
          apply(server, p, 'remote.pull', account.get(x)!);
          for (const id of x.rows.keys()) expect(server.rows.has(id), `seed ${seed}: ${id} lost on push`).toBe(true);
        } else {
          // x pulls from the server: every row there comes (by the identity the server recorded).
          const p = plan(server, x, sides, null);
          expect(p.skipped, `seed ${seed} step ${step}`).toEqual([]);
          apply(x, p, 'remote.pull', x.author);
          for (const id of server.rows.keys()) expect(x.rows.has(id), `seed ${seed}: ${id} lost on pull`).toBe(true);
        }
        for (const s of sides) {
          noDuplicates(s);
          for (const e of s.rows.values()) {
            const first = origin.get(e.id) ?? e;
            origin.set(e.id, first);
            expect([e.report, e.passed, e.version_id]).toEqual([first.report, first.passed, first.version_id]);
          }
        }
      }
    }
  });

  it('a tampered copy of any row is refused, alone, whatever the history (40 seeds)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = mulberry32(1000 + seed);
      const a = side('ws-a', 'alice@laptop');
      const server = side('ws-s', 'dana');
      for (let i = 0; i < 8; i++) evaluate(a, r, i);
      const rows = [...a.rows.values()];
      const k = Math.floor(r() * rows.length);
      const e = rows[k]!;
      const tampers: Array<Partial<EvaluationStateRow>> = [
        { passed: e.passed ? 0 : 1 },
        { report: e.report.replace('"accuracy":', '"accuracy":1') },
        { by: 'mallory@laptop' },
        { data_version_id: e.data_version_id === 'dv-1' ? 'dv-2' : 'dv-1' },
        { version_id: e.version_id === 'mv-1' ? 'mv-2' : 'mv-1' },
        { data_version_id: 'dv-gone' },
        { suite: e.suite === 'smoke' ? 'acceptance' : 'smoke' },
        { suite_digest: hex(8) },
      ];
      const t = tampers[Math.floor(r() * tampers.length)]!;
      const bad = { ...e, ...t };
      const p = plan(
        a,
        server,
        [a, server],
        'alice',
        rows.map((x) => (x === e ? bad : x)),
      );
      expect(
        p.skipped.map((s) => s.evaluation),
        `seed ${seed}: ${JSON.stringify(t)}`,
      ).toEqual([bad.id]);
      expect(p.evaluations.map((x) => x.id).sort()).toEqual(
        rows
          .filter((x) => x !== e)
          .map((x) => x.id)
          .sort(),
      );
    }
  });
});
