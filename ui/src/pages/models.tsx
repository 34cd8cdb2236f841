// /models and /models/<name>: versions, the alias timeline, gates with their evidence, and the
// buttons to approve, promote and roll back (offered only to who may use them).
import { useState } from 'preact/hooks';
import { ApiError, call, can, type Me } from '../api.js';
import { asApiError, ErrorBox, fmtNum, fmtTime, Show, useData } from '../data.js';
import { Link, qs, type Location } from '../router.js';
import { AutoTable } from '../table.js';

interface ModelSummary {
  name: string;
  versions: number;
  latest: string;
  updated: string;
  aliases: Record<string, string>;
}
interface VersionSummary {
  ref: string;
  digest: string;
  format: string;
  run: string | null;
  created: string;
  by: string;
  aliases: string[];
}
interface Check {
  name: string;
  kind: string;
  passed: boolean;
  message: string;
  evidence?: Record<string, unknown>;
}
interface Evaluation {
  suite: string;
  passed: boolean;
  at: string;
  by: string;
  report: { checks?: Check[]; data?: string; rows?: number; metrics?: Record<string, number> };
}
interface Readiness {
  ref: string;
  alias: string;
  policy: { suites: string[]; approvals: number; separateApprover: boolean } | null;
  unmet: string[];
}
interface History {
  events: Array<{
    at: string;
    alias: string;
    action: string;
    version: string | null;
    previous: string | null;
    by: string;
  }>;
}

export function ModelsPage() {
  const [models] = useData(() => call<ModelSummary[]>('models.list'), []);
  return (
    <>
      <h1>Models</h1>
      <Show v={models} what="models">
        {(ms) => (
          <AutoTable
            caption="Registered models"
            rows={ms as unknown as Array<Record<string, unknown>>}
            columns={['name', 'versions', 'latest', 'aliases', 'updated']}
            render={{
              name: (v) => <Link href={`/models/${encodeURIComponent(String(v))}`}>{String(v)}</Link>,
              aliases: (v) =>
                Object.entries(v as Record<string, string>)
                  .map(([a, ver]) => `${a} → ${ver}`)
                  .join(', ') || '–',
              updated: (v) => fmtTime(String(v)),
            }}
          />
        )}
      </Show>
    </>
  );
}

export function ModelPage(props: { name: string; me: Me; loc: Location }) {
  const [versions, reload] = useData(
    () => call<VersionSummary[]>('models.versions', { params: { name: props.name } }),
    [props.name],
  );
  const [history, reloadHistory] = useData(
    () => call<History>('models.history', { params: { name: props.name } }),
    [props.name],
  );
  const refresh = () => {
    reload();
    reloadHistory();
  };
  return (
    <>
      <h1>Model {props.name}</h1>
      <Show v={versions} what={`model ${props.name}`}>
        {(vs) => (
          <>
            <p>
              <Link
                href={`/runs/compare${qs({
                  ids: vs
                    .map((v) => v.run)
                    .filter(Boolean)
                    .join(','),
                })}`}
                id="runs"
              >
                Compare the runs that trained these {vs.length} versions
              </Link>{' '}
              ·{' '}
              <Link
                href={`/lineage${qs({ ref: `model:${props.name}@${vs[0]?.ref.split('@')[1] ?? ''}`, direction: 'up' })}`}
              >
                Lineage of the latest version
              </Link>{' '}
              · <Link href={`/releases${qs({ model: props.name })}`}>Deployments and DORA</Link>
            </p>
            <h2>Alias timeline</h2>
            <Show v={history} what="alias history">
              {(h) => <Timeline h={h} />}
            </Show>
            <h2>Versions</h2>
            {vs.map((v) => (
              <Version key={v.ref} v={v} me={props.me} onChange={refresh} />
            ))}
          </>
        )}
      </Show>
    </>
  );
}

function Timeline(props: { h: History }) {
  if (!props.h.events.length) return <p class="muted">No alias has moved yet.</p>;
  return (
    <ol class="timeline">
      {props.h.events.map((e, i) => (
        <li key={i}>
          <time dateTime={e.at}>{fmtTime(e.at)}</time> <strong>{e.alias}</strong> {e.action}:{' '}
          {e.previous && e.previous !== e.version ? `${e.previous} → ` : ''}
          {e.version ?? 'removed'} <span class="muted">by {e.by}</span>
        </li>
      ))}
    </ol>
  );
}

function Version(props: { v: VersionSummary; me: Me; onChange: () => void }) {
  const { v, me } = props;
  const [evals, reloadEvals] = useData(
    () => call<Evaluation[]>('models.evaluations', { query: { ref: v.ref } }),
    [v.ref],
  );
  const alias = me.protectedAliases[0] ?? 'production';
  const [ready, reloadReady] = useData(
    () => call<Readiness>('models.readiness', { query: { ref: v.ref, alias } }),
    [v.ref, alias],
  );
  const [card] = useData(() => call<{ intendedUse?: string }>('models.card', { query: { ref: v.ref } }), [v.ref]);
  const [result, setResult] = useState<{ ok: string } | { error: ApiError } | null>(null);
  const act = async (what: string, fn: () => Promise<unknown>) => {
    setResult(null);
    try {
      await fn();
      setResult({ ok: what });
    } catch (e) {
      setResult({ error: asApiError(e) });
    }
    reloadEvals();
    reloadReady();
    props.onChange();
  };
  const protectedAlias = me.protectedAliases.includes(alias);
  const mayPromote = can(me, protectedAlias ? 'approver' : 'contributor');
  const live = v.aliases.includes(alias);
  return (
    <article class="version" aria-labelledby={`v-${v.ref}`}>
      <h3 id={`v-${v.ref}`}>
        {v.ref}{' '}
        {v.aliases.map((a) => (
          <span class="badge" key={a}>
            {a}
          </span>
        ))}
      </h3>
      <p class="muted">
        {v.format}, registered {fmtTime(v.created)} by {v.by}
        {v.run ? (
          <>
            {' '}
            from run <Link href={`/runs/${v.run}`}>{v.run}</Link>
          </>
        ) : null}
        ; <code>{v.digest.slice(0, 19)}…</code>
      </p>
      <Show v={evals} what="evaluations">
        {(es) =>
          es.length ? (
            es.map((e, i) => <Verdict key={i} e={e} />)
          ) : (
            <p class="muted">Not evaluated (cairn model evaluate).</p>
          )
        }
      </Show>
      <Show v={ready} what="policy">
        {(r) => (
          <div class={`readiness ${r.unmet.length ? 'blocked' : 'ok'}`}>
            <strong>
              {live
                ? `Live as ${alias}.`
                : r.unmet.length
                  ? `Blocked from ${alias}:`
                  : `Meets the ${alias} policy${r.policy ? '' : ' (none is set)'}.`}
            </strong>
            {!live && r.unmet.length ? (
              <ul>
                {r.unmet.map((u) => (
                  <li key={u}>{u}</li>
                ))}
              </ul>
            ) : null}
            <div class="actions">
              {!live && can(me, 'approver') ? (
                <button
                  type="button"
                  onClick={() =>
                    act(`approved ${v.ref} for ${alias}`, () => call('models.approve', { body: { ref: v.ref, alias } }))
                  }
                >
                  Approve for {alias}
                </button>
              ) : null}
              {!live && mayPromote ? (
                <button
                  type="button"
                  class="primary"
                  disabled={r.unmet.length > 0}
                  title={r.unmet.length ? 'the policy is not met yet' : undefined}
                  onClick={() =>
                    act(`promoted ${v.ref} to ${alias}`, () => call('models.promote', { body: { ref: v.ref, alias } }))
                  }
                >
                  Promote to {alias}
                </button>
              ) : null}
              {live && mayPromote ? (
                <button
                  type="button"
                  onClick={() =>
                    act(`rolled ${alias} back`, () =>
                      call('models.rollback', { params: { name: v.ref.split('@')[0]!, alias } }),
                    )
                  }
                >
                  Roll {alias} back
                </button>
              ) : null}
            </div>
          </div>
        )}
      </Show>
      {result && 'ok' in result ? (
        <p role="status" class="ok">
          Done: {result.ok}.
        </p>
      ) : null}
      {result && 'error' in result ? <ErrorBox error={result.error} /> : null}
      <details>
        <summary>Model card</summary>
        <Show v={card} what="model card">
          {(c) => <pre class="card-text">{c.intendedUse ?? JSON.stringify(c, null, 2)}</pre>}
        </Show>
      </details>
    </article>
  );
}

/** One evaluation: its verdict, every check with its evidence, intervals drawn as ranges. */
function Verdict(props: { e: Evaluation }) {
  const { e } = props;
  return (
    <details open={!e.passed} class={`verdict ${e.passed ? 'pass' : 'fail'}`}>
      <summary>
        Gate <strong>{e.suite}</strong>: {e.passed ? 'passed' : 'FAILED'} on {e.report.data ?? 'data'} ({fmtTime(e.at)})
      </summary>
      <ul class="checks">
        {(e.report.checks ?? []).map((c, i) => (
          <li key={i} class={c.passed ? 'pass' : 'fail'}>
            <span aria-label={c.passed ? 'passed' : 'failed'}>{c.passed ? '✓' : '✗'}</span> <strong>{c.name}</strong>:{' '}
            {c.message}
            <Interval ev={c.evidence} />
            <Slices ev={c.evidence} />
          </li>
        ))}
      </ul>
    </details>
  );
}

type Est = { value: number; lo: number; hi: number };
const isEst = (x: unknown): x is Est =>
  !!x &&
  typeof x === 'object' &&
  ['value', 'lo', 'hi'].every((k) => typeof (x as Record<string, unknown>)[k] === 'number');

/** A difference with its confidence interval, against zero. */
function Interval(props: { ev?: Record<string, unknown> }) {
  const d = props.ev?.delta;
  if (!isEst(d)) return null;
  const span = Math.max(Math.abs(d.lo), Math.abs(d.hi), 1e-9) * 1.2;
  const x = (v: number) => 50 + (v / span) * 50;
  return (
    <svg
      class="ci"
      viewBox="0 0 100 14"
      width="240"
      height="28"
      role="img"
      aria-label={`difference ${fmtNum(d.value)}, 95% interval ${fmtNum(d.lo)} to ${fmtNum(d.hi)}`}
    >
      <line x1="50" x2="50" y1="0" y2="14" stroke="#888" stroke-dasharray="2 1" />
      <line x1={x(d.lo)} x2={x(d.hi)} y1="7" y2="7" stroke="currentColor" stroke-width="2" />
      <circle cx={x(d.value)} cy="7" r="2.5" fill="currentColor" />
    </svg>
  );
}

/** Per-slice results, where a check reports them. */
function Slices(props: { ev?: Record<string, unknown> }) {
  const s = props.ev?.slices;
  if (!Array.isArray(s) || !s.length) return null;
  return <AutoTable caption="Slices" rows={s as Array<Record<string, unknown>>} />;
}
