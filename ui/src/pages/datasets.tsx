// /datasets, /datasets/<name> and /datasets/<name>/v<N>: versions, files, diffs and the stored
// reports (profile, validation with failing rows, split and leakage).
import { call } from '../api.js';
import { fmtBytes, fmtTime, Json, Show, useData } from '../data.js';
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
  return (
    <section aria-labelledby="diff">
      <h2 id="diff">
        {props.from} → {props.to}
      </h2>
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
            {x.reports.map((r) => (
              <Report key={r.digest} refName={ref} kind={r.kind} created={r.created} />
            ))}
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
  body: { checks?: Array<Record<string, unknown>>; columns?: Array<Record<string, unknown>> } & Record<string, unknown>;
}

function Report(props: { refName: string; kind: string; created: string }) {
  const [r] = useData(
    () => call<ReportView>('datasets.report', { query: { ref: props.refName, kind: props.kind } }),
    [props.refName, props.kind],
  );
  return (
    <details class="report" open={props.kind === 'validation'}>
      <summary>
        {props.kind} <span class="muted">{fmtTime(props.created)}</span>
      </summary>
      <Show v={r} what={`${props.kind} report`}>
        {(x) =>
          x.body.checks ? (
            <AutoTable
              caption="Checks (failing rows sampled in the sample column)"
              rows={x.body.checks}
              columns={['status', 'name', 'message', 'failed', 'evaluated', 'sample']}
            />
          ) : x.body.columns ? (
            <AutoTable
              caption="Columns: nulls, distinct values, range and top values"
              rows={x.body.columns}
              columns={['name', 'kind', 'count', 'nulls', 'distinct', 'min', 'max', 'top']}
              render={{
                top: (t) =>
                  Array.isArray(t)
                    ? (t as Array<{ value: unknown; count: number }>)
                        .slice(0, 3)
                        .map((e) => `${String(e.value)} (${e.count})`)
                        .join(', ')
                    : '–',
              }}
            />
          ) : (
            <Json value={x.body} />
          )
        }
      </Show>
    </details>
  );
}
