// /datasets, /datasets/<name> and /datasets/<name>/v<N>: versions, files, diffs and the stored
// reports (profile, validation with failing rows, split and leakage).
import { ApiError, call } from '../api.js';
import { fmtBytes, fmtNum, fmtTime, Json, Show, useData } from '../data.js';
import { Link, navigate, qs, type Location } from '../router.js';
import { AutoTable } from '../table.js';

interface DatasetRow {
  name: string;
  versions: number;
  latest_number: number;
  latest_total_bytes: number;
  latest_file_count: number;
  latest_created_at: string;
}
interface VersionRow {
  ref: string;
  version: number;
  digest: string;
  message: string;
  author: string;
  created: string;
  files: number;
  bytes: number;
  newBytes: number;
  tags: string[];
  parent: string | null;
  derivedFrom: string[];
  reports: Array<{ kind: string; digest: string; created: string; by: string; summary: unknown }>;
  listing?: Array<{ path: string; type: string; size: number; digest?: string }>;
  truncated?: boolean;
}

/** Dataset names may hold a slash (flights/train): one path segment, encoded. */
const dsHref = (name: string) => `/datasets/${encodeURIComponent(name)}`;

export function DatasetsPage() {
  const [ds] = useData(() => call<DatasetRow[]>('datasets.list'), []);
  return (
    <>
      <h1>Datasets</h1>
      <Show v={ds} what="datasets">
        {(rows) => (
          <AutoTable
            caption="Datasets"
            rows={rows as unknown as Array<Record<string, unknown>>}
            columns={[
              'name',
              'versions',
              'latest_number',
              'latest_file_count',
              'latest_total_bytes',
              'latest_created_at',
            ]}
            render={{
              name: (v) => <Link href={dsHref(String(v))}>{String(v)}</Link>,
              latest_total_bytes: (v) => fmtBytes(v as number),
              latest_created_at: (v) => fmtTime(String(v)),
            }}
          />
        )}
      </Show>
    </>
  );
}

export function DatasetPage(props: { name: string; loc: Location }) {
  const [log] = useData(() => call<VersionRow[]>('datasets.log', { query: { name: props.name } }), [props.name]);
  const from = props.loc.query.get('from');
  const to = props.loc.query.get('to');
  return (
    <>
      <h1>Dataset {props.name}</h1>
      <Show v={log} what={`dataset ${props.name}`}>
        {(vs) => (
          <>
            <AutoTable
              caption="Versions, newest first"
              rows={vs as unknown as Array<Record<string, unknown>>}
              columns={['ref', 'message', 'author', 'created', 'files', 'bytes', 'newBytes', 'tags', 'reports']}
              render={{
                ref: (v, r) => <Link href={`${dsHref(props.name)}/v${String(r.version)}`}>{String(v)}</Link>,
                bytes: (v) => fmtBytes(v as number),
                newBytes: (v) => fmtBytes(v as number),
                created: (v) => fmtTime(String(v)),
                tags: (v) => (v as string[]).join(', ') || '–',
                reports: (v) => (v as VersionRow['reports']).map((x) => x.kind).join(', ') || '–',
              }}
            />
            {vs.length > 1 ? (
              <form
                class="controls"
                onSubmit={(e) => {
                  e.preventDefault();
                  const f = new FormData(e.target as HTMLFormElement);
                  navigate(`${dsHref(props.name)}${qs({ from: String(f.get('from')), to: String(f.get('to')) })}`);
                }}
              >
                <label>
                  Diff from{' '}
                  <select name="from" defaultValue={from ?? vs[1]!.ref}>
                    {vs.map((v) => (
                      <option key={v.ref}>{v.ref}</option>
                    ))}
                  </select>
                </label>
                <label>
                  to{' '}
                  <select name="to" defaultValue={to ?? vs[0]!.ref}>
                    {vs.map((v) => (
                      <option key={v.ref}>{v.ref}</option>
                    ))}
                  </select>
                </label>
                <button type="submit">Diff</button>
              </form>
            ) : null}
            {from && to ? <Diff from={from} to={to} /> : null}
          </>
        )}
      </Show>
    </>
  );
}

function Diff(props: { from: string; to: string }) {
  const [d] = useData(() => call<Record<string, unknown>>('datasets.diff', { query: props }), [props.from, props.to]);
  const [profiles] = useData(() => Promise.all([profileOf(props.from), profileOf(props.to)]), [props.from, props.to]);
  return (
    <section aria-labelledby="diff">
      <h2 id="diff">
        {props.from} → {props.to}
      </h2>
      <h3>Table schema and rows</h3>
      <Show v={profiles} what="profiles">
        {([a, b]) =>
          a && b ? (
            <SchemaDiffView d={schemaDiff(a, b)} />
          ) : (
            <p class="muted">
              {[!a ? props.from : null, !b ? props.to : null].filter(Boolean).join(' and ')} has no stored profile, so
              there is no schema or row-count diff (a profile is stored by <code>cairn data profile</code> or{' '}
              <code>cairn data validate</code> on a table).
            </p>
          )
        }
      </Show>
      <h3>Files</h3>
      <Show v={d} what="diff">
        {(x) => {
          const changes = ['added', 'removed', 'modified', 'changed'].flatMap((k) =>
            Array.isArray(x[k]) ? (x[k] as Array<Record<string, unknown>>) : [],
          );
          return changes.length ? (
            <AutoTable
              caption={`Changed files (${changes.length}${changes.length > 500 ? ', the first 500 shown' : ''})`}
              rows={changes.slice(0, 500)}
              columns={['change', 'path', 'oldSize', 'newSize']}
            />
          ) : (
            <Json value={x} />
          );
        }}
      </Show>
    </section>
  );
}

export function VersionPage(props: { name: string; version: string }) {
  const ref = `${props.name}@${props.version}`;
  const [v] = useData(() => call<VersionRow>('datasets.show', { query: { ref, limit: 200 } }), [ref]);
  return (
    <>
      <h1>{ref}</h1>
      <Show v={v} what={`version ${ref}`}>
        {(x) => (
          <>
            <p>
              {x.message}{' '}
              <span class="muted">
                by {x.author}, {fmtTime(x.created)}
              </span>
            </p>
            <p>
              {x.files.toLocaleString('en')} files, {fmtBytes(x.bytes)} ({fmtBytes(x.newBytes)} new) ·{' '}
              <Link href={`/lineage${qs({ ref, direction: 'both' })}`}>
                Lineage: where it came from, what depends on it
              </Link>
            </p>
            <h2>Reports</h2>
            {x.reports.length === 0 ? <p class="muted">No profile, validation or split report.</p> : null}
            {/* The API serves the newest report of a kind, so each kind is shown once, newest. */}
            {[...new Set(x.reports.map((r) => r.kind))].map((kind) => {
              const all = x.reports.filter((r) => r.kind === kind);
              const newest = all.reduce((a, b) => (b.created > a.created ? b : a));
              return <Report key={kind} refName={ref} kind={kind} created={newest.created} older={all.length - 1} />;
            })}
            <h2>Files</h2>
            {x.listing ? (
              <AutoTable
                caption={x.truncated ? `Files (the first ${x.listing.length})` : 'Files'}
                rows={x.listing as unknown as Array<Record<string, unknown>>}
                columns={['path', 'type', 'size', 'digest']}
                render={{ size: (s) => fmtBytes(s as number) }}
              />
            ) : (
              <Json value={x} />
            )}
          </>
        )}
      </Show>
    </>
  );
}

interface ReportView {
  kind: string;
  body: Record<string, unknown>;
}

/** The stored profile of a table version (src/dataprep/tables/profile.ts), as far as the UI reads it. */
export interface Profile {
  rows: number;
  columns: Array<{
    name: string;
    type: string;
    kind: string;
    count: number;
    nulls: number;
    distinct: number;
    min?: unknown;
    max?: unknown;
    top: Array<{ value: unknown; count: number }>;
    histogram?: { edges: number[]; counts: number[] };
  }>;
}

/** A version's newest profile, or null when none was stored (not an error: files have none). */
async function profileOf(ref: string): Promise<Profile | null> {
  try {
    const r = await call<ReportView>('datasets.report', { query: { ref, kind: 'profile' } });
    return Array.isArray(r.body.columns) ? (r.body as unknown as Profile) : null;
  } catch (e) {
    if (e instanceof ApiError && e.code === 'NOT_FOUND') return null;
    throw e;
  }
}

export interface SchemaDiff {
  rows: { from: number; to: number };
  columns: Array<{
    name: string;
    change: 'added' | 'removed' | 'type changed' | 'same';
    fromType: string | null;
    toType: string | null;
    fromNulls: number | null;
    toNulls: number | null;
  }>;
}

/** Columns of two profiles side by side, in the newer table's order, then the removed ones. Pure. */
export function schemaDiff(a: Profile, b: Profile): SchemaDiff {
  const old = new Map(a.columns.map((c) => [c.name, c]));
  const now = new Set(b.columns.map((c) => c.name));
  return {
    rows: { from: a.rows, to: b.rows },
    columns: [
      ...b.columns.map((c) => {
        const o = old.get(c.name);
        return {
          name: c.name,
          change: !o ? ('added' as const) : o.type !== c.type ? ('type changed' as const) : ('same' as const),
          fromType: o?.type ?? null,
          toType: c.type,
          fromNulls: o?.nulls ?? null,
          toNulls: c.nulls,
        };
      }),
      ...a.columns
        .filter((c) => !now.has(c.name))
        .map((c) => ({
          name: c.name,
          change: 'removed' as const,
          fromType: c.type,
          toType: null,
          fromNulls: c.nulls,
          toNulls: null,
        })),
    ],
  };
}

function SchemaDiffView(props: { d: SchemaDiff }) {
  const { d } = props;
  const delta = d.rows.to - d.rows.from;
  const changed = d.columns.filter((c) => c.change !== 'same').length;
  return (
    <>
      <p>
        Rows: {d.rows.from.toLocaleString('en')} → {d.rows.to.toLocaleString('en')} ({delta >= 0 ? '+' : ''}
        {delta.toLocaleString('en')}) · {changed ? `${changed} columns changed` : 'same columns and types'}
      </p>
      <AutoTable
        caption="Columns (from the versions' stored profiles)"
        rows={d.columns as unknown as Array<Record<string, unknown>>}
        columns={['name', 'change', 'fromType', 'toType', 'fromNulls', 'toNulls']}
        render={{ change: (v) => <span class={`change ${String(v).replace(' ', '-')}`}>{String(v)}</span> }}
      />
    </>
  );
}

function Report(props: { refName: string; kind: string; created: string; older: number }) {
  const [r] = useData(
    () => call<ReportView>('datasets.report', { query: { ref: props.refName, kind: props.kind } }),
    [props.refName, props.kind],
  );
  return (
    <details class="report" open={props.kind !== 'profile' || undefined}>
      <summary>
        {props.kind}{' '}
        <span class="muted">
          {fmtTime(props.created)}
          {props.older ? ` (the newest; ${props.older} older not shown)` : ''}
        </span>
      </summary>
      <Show v={r} what={`${props.kind} report`}>
        {(x) =>
          Array.isArray(x.body.checks) ? (
            <Validation body={x.body as unknown as ValidationBody} />
          ) : Array.isArray(x.body.columns) ? (
            <ProfileView p={x.body as unknown as Profile} />
          ) : Array.isArray(x.body.splits) ? (
            <SplitView body={x.body as unknown as SplitBody} />
          ) : (
            <Json value={x.body} />
          )
        }
      </Show>
    </details>
  );
}

interface ValidationBody {
  suite?: string;
  ok?: boolean;
  errors?: number;
  warnings?: number;
  checks: Array<{
    name: string;
    status: string;
    severity?: string;
    message: string;
    failed: number;
    evaluated: number;
    sample: unknown[];
  }>;
}

function Validation(props: { body: ValidationBody }) {
  const b = props.body;
  // A check may pass with failing rows (`mostly`): those rows are shown too.
  const failing = b.checks.filter((c) => c.status !== 'passed' || c.failed > 0);
  return (
    <>
      <p>
        {b.suite ? <>Suite {b.suite}: </> : null}
        <strong>{b.ok === false ? 'failed' : b.ok ? 'passed' : ''}</strong>
        {b.errors !== undefined ? ` · ${b.errors} errors, ${b.warnings ?? 0} warnings` : ''}
      </p>
      <AutoTable
        caption="Checks"
        rows={b.checks as unknown as Array<Record<string, unknown>>}
        columns={['status', 'severity', 'name', 'message', 'failed', 'evaluated']}
        render={{ status: (v) => <span class={`status ${String(v)}`}>{String(v)}</span> }}
      />
      {failing.map((c) => (
        <div class="failing" key={c.name}>
          <h4>
            Failing rows of {c.name}{' '}
            <span class="muted">
              ({c.sample.length} shown of {c.failed.toLocaleString('en')})
            </span>
          </h4>
          {c.sample.length ? (
            <SampleRows rows={c.sample} caption={`Failing rows of ${c.name}`} />
          ) : (
            <p class="muted">No sample kept.</p>
          )}
        </div>
      ))}
    </>
  );
}

/** Sampled rows: records as a table of their fields, anything else one value a line. */
function SampleRows(props: { rows: unknown[]; caption: string }) {
  const records = props.rows.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r));
  return records ? (
    <AutoTable caption={props.caption} rows={props.rows as Array<Record<string, unknown>>} />
  ) : (
    <AutoTable caption={props.caption} rows={props.rows.map((value) => ({ value }))} />
  );
}

function ProfileView(props: { p: Profile }) {
  const { p } = props;
  return (
    <>
      <p>
        {p.rows.toLocaleString('en')} rows, {p.columns.length} columns
      </p>
      <div class="scroll">
        <table class="profile">
          <caption>Columns: nulls, distinct values, range, histogram and top values</caption>
          <thead>
            <tr>
              {['name', 'type', 'nulls', 'distinct', 'min', 'max', 'histogram', 'top values'].map((h) => (
                <th scope="col" key={h}>
                  {h}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {p.columns.map((c) => (
              <tr key={c.name}>
                <th scope="row">{c.name}</th>
                <td>{c.type}</td>
                <td class="num">
                  {fmtNum(c.nulls)}
                  {p.rows ? <span class="muted"> ({fmtNum((100 * c.nulls) / p.rows)} %)</span> : null}
                </td>
                <td class="num">{fmtNum(c.distinct)}</td>
                <td>{cellText(c.min)}</td>
                <td>{cellText(c.max)}</td>
                <td>{c.histogram && c.histogram.counts.length ? <Histogram h={c.histogram} name={c.name} /> : '–'}</td>
                <td>
                  {c.top.length
                    ? c.top
                        .slice(0, 5)
                        .map((e) => `${cellText(e.value)} (${e.count.toLocaleString('en')})`)
                        .join(', ')
                    : '–'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

const cellText = (v: unknown) => (v === null || v === undefined ? '–' : typeof v === 'number' ? fmtNum(v) : String(v));

/** A column's stored histogram as bars (the bins are the column's own 5 % … 95 % quantiles). */
export function Histogram(props: { h: { edges: number[]; counts: number[] }; name: string }) {
  const { edges, counts } = props.h;
  const W = 160;
  const H = 36;
  const max = Math.max(1, ...counts);
  const w = W / counts.length;
  return (
    <svg
      class="hist"
      width={W}
      height={H}
      role="img"
      aria-label={`Histogram of ${props.name}: ${counts.length} bins from ${fmtNum(edges[0])} to ${fmtNum(edges[edges.length - 1])}`}
    >
      {counts.map((n, i) => (
        <rect key={i} x={i * w + 0.5} y={H - (H * n) / max} width={Math.max(1, w - 1)} height={(H * n) / max}>
          <title>
            {fmtNum(edges[i])} … {fmtNum(edges[i + 1])}: {n.toLocaleString('en')}
          </title>
        </rect>
      ))}
    </svg>
  );
}

interface SplitBody {
  mode?: string;
  rows: number;
  splits: Array<{ name: string; ratio: number; rows: number; fraction: number }>;
  classes?: {
    column: string;
    overall: Record<string, number>;
    bySplit: Record<string, Record<string, number>>;
    maxDeviationPoints: number;
  };
  leakage?: {
    ok: boolean;
    checked: string[];
    findings: Array<{ kind: string; severity: string; count: number; message: string; sample: unknown[] }>;
  };
}

function SplitView(props: { body: SplitBody }) {
  const b = props.body;
  return (
    <>
      <p>
        Split {b.mode ? `by ${b.mode}` : ''}: {b.rows.toLocaleString('en')} rows
      </p>
      <AutoTable
        caption="Splits"
        rows={b.splits as unknown as Array<Record<string, unknown>>}
        columns={['name', 'ratio', 'rows', 'fraction']}
      />
      {b.classes ? (
        <AutoTable
          caption={`Class shares of ${b.classes.column} (largest deviation ${fmtNum(b.classes.maxDeviationPoints)} points)`}
          rows={Object.entries(b.classes.overall).map(([cls, share]) => ({
            class: cls,
            overall: share,
            ...Object.fromEntries(Object.entries(b.classes!.bySplit).map(([sp, m]) => [sp, m[cls] ?? 0])),
          }))}
        />
      ) : null}
      {b.leakage ? (
        <>
          <h4>
            Leakage: {b.leakage.ok ? 'none of severity error' : 'LEAKS'}{' '}
            <span class="muted">(checked {b.leakage.checked.join(', ') || 'nothing'})</span>
          </h4>
          {b.leakage.findings.length ? (
            <AutoTable
              caption="Leakage findings"
              rows={b.leakage.findings as unknown as Array<Record<string, unknown>>}
              columns={['severity', 'kind', 'count', 'message', 'sample']}
            />
          ) : (
            <p class="muted">No finding.</p>
          )}
        </>
      ) : null}
    </>
  );
}
