// /runs: the run table, filtered and sorted on the server, one page at a time; or grouped by
// spec name or a tag, each group folded with its count and best value.
import { useState } from 'preact/hooks';
import { betterByName } from '../../../src/compute/runs/find/better.js';
import { call } from '../api.js';
import { fmtNum, fmtTime, Show, useData } from '../data.js';
import { Link, navigate, qs, type Location } from '../router.js';

interface Listing {
  columns: string[];
  matched: number;
  runs: Array<{
    id: string;
    name: string;
    humanName: string | null;
    project: string;
    status: string;
    createdAt: string;
    tags: Record<string, string>;
    values: Record<string, unknown>;
  }>;
}
type Row = Listing['runs'][number];

const PAGE = 50;
/**
 * Groups are formed in the browser from this many matching runs (in the table's sort order):
 * enough for a sweep, and the page says when more matched than were grouped.
 */
export const GROUP_SCAN = 5000;
/** Runs listed inside one open group; its count and best cover all of its runs. */
const GROUP_ROWS = 100;
/** Columns shown by default: enough to read, few enough to fit (more through ?columns=). */
const MAX_DEFAULT_COLUMNS = 10;

export function RunsPage(props: { loc: Location }) {
  const q = props.loc.query;
  const filter = q.get('filter') ?? '';
  const sort = q.get('sort') ?? '';
  const page = Math.max(0, Number(q.get('page') ?? 0) || 0);
  const group = q.get('group') ?? '';
  const [fields] = useData(() => call<{ params: string[]; metrics: string[] }>('runs.fields'), []);
  const columns =
    q.get('columns') ??
    (fields.state === 'ok'
      ? [...fields.data.metrics.map((m) => `metrics.${m}`), ...fields.data.params.map((p) => `params.${p}`)]
          .slice(0, MAX_DEFAULT_COLUMNS)
          .join(',')
      : null);
  const [listing] = useData(
    () =>
      columns === null
        ? new Promise<Listing>(() => undefined)
        : call<Listing>('runs.find', {
            query: group
              ? { filter, sort, columns: columns || undefined, limit: GROUP_SCAN }
              : { filter, sort, columns: columns || undefined, limit: PAGE, offset: page * PAGE },
          }),
    [filter, sort, columns, page, group],
  );
  const [draft, setDraft] = useState(filter);
  const [selected, setSelected] = useState<string[]>([]);
  const go = (over: Record<string, string | number | undefined>) =>
    navigate(
      `/runs${qs({ filter, sort, columns: q.get('columns') ?? undefined, group: group || undefined, page: undefined, ...over })}`,
    );
  const toggle = (id: string) => setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id]));
  return (
    <>
      <h1>Runs</h1>
      <form
        class="filter"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          go({ filter: draft });
        }}
      >
        <label for="run-filter">Filter</label>
        <input
          id="run-filter"
          value={draft}
          placeholder="metrics.test_accuracy > 0.9 and params.lr < 0.01"
          onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
          size={60}
        />
        <button type="submit">Apply</button>
        <button
          type="button"
          disabled={selected.length === 0}
          onClick={() => navigate(`/runs/compare${qs({ ids: selected.join(',') })}`)}
        >
          Compare {selected.length || ''} selected
        </button>
      </form>
      <Show v={listing} what="runs">
        {(l) => (
          <>
            <div class="controls">
              <label>
                Group by{' '}
                <select
                  value={group}
                  onChange={(e) => go({ group: (e.target as HTMLSelectElement).value || undefined })}
                >
                  <option value="">nothing (pages of {PAGE})</option>
                  <option value="name">spec name</option>
                  {tagKeys(l.runs, group).map((k) => (
                    <option key={k} value={`tag:${k}`}>
                      tag {k}
                    </option>
                  ))}
                </select>
              </label>
            </div>
            {group ? (
              <Groups l={l} group={group} sort={sort} selected={selected} toggle={toggle} go={go} />
            ) : (
              <>
                <p class="muted" aria-live="polite">
                  {l.matched.toLocaleString('en')} runs match
                  {l.matched > PAGE ? `; showing ${page * PAGE + 1}–${Math.min(l.matched, (page + 1) * PAGE)}` : ''}
                </p>
                <RunTable rows={l.runs} columns={l.columns} sort={sort} selected={selected} toggle={toggle} go={go} />
                <nav class="pager" aria-label="Pages">
                  <button type="button" disabled={page === 0} onClick={() => go({ page: page - 1 || undefined })}>
                    Previous
                  </button>
                  <button
                    type="button"
                    disabled={(page + 1) * PAGE >= l.matched}
                    onClick={() => go({ page: page + 1 })}
                  >
                    Next
                  </button>
                </nav>
              </>
            )}
          </>
        )}
      </Show>
    </>
  );
}

/** Tag keys of the runs at hand (and the one grouped by, so the choice stays shown). */
function tagKeys(runs: Row[], group: string): string[] {
  const keys = new Set(runs.flatMap((r) => Object.keys(r.tags ?? {})));
  if (group.startsWith('tag:')) keys.add(group.slice(4));
  return [...keys].sort();
}

export interface RunGroup {
  key: string;
  runs: Row[];
  best: { value: number; run: Row } | null;
}

/**
 * Runs grouped by spec name or one tag's value (runs without the tag form their own group), in
 * order of first appearance, so the table's sort orders the groups too; `best` is the group's
 * best value of `metric` (lowest for losses and errors, else highest).
 */
export function groupRuns(runs: Row[], group: string, metric: string | null): RunGroup[] {
  const by = new Map<string, Row[]>();
  const keyOf = (r: Row) => (group === 'name' ? r.name : (r.tags?.[group.slice(4)] ?? '(no tag)'));
  for (const r of runs) {
    const k = keyOf(r);
    const list = by.get(k);
    if (list) list.push(r);
    else by.set(k, [r]);
  }
  const lower = metric
    ? betterByName(metric.replace(/^metrics\./, '').replace(/\.(last|min|max|best)$/, '')) === 'lower'
    : false;
  return [...by].map(([key, rs]) => {
    let best: RunGroup['best'] = null;
    if (metric)
      for (const r of rs) {
        const v = r.values[metric];
        if (typeof v !== 'number' || !Number.isFinite(v)) continue;
        if (!best || (lower ? v < best.value : v > best.value)) best = { value: v, run: r };
      }
    return { key, runs: rs, best };
  });
}

function Groups(props: {
  l: Listing;
  group: string;
  sort: string;
  selected: string[];
  toggle: (id: string) => void;
  go: (over: Record<string, string | number | undefined>) => void;
}) {
  const { l, group, sort } = props;
  const sortKey = sort.replace(/^-/, '');
  const metric = sortKey.startsWith('metrics.') ? sortKey : (l.columns.find((c) => c.startsWith('metrics.')) ?? null);
  const groups = groupRuns(l.runs, group, metric);
  const what = group === 'name' ? 'spec name' : `tag ${group.slice(4)}`;
  return (
    <>
      <p class="muted" aria-live="polite">
        {l.matched.toLocaleString('en')} runs match, in {groups.length} groups by {what}
        {l.matched > l.runs.length
          ? `; grouped are the first ${l.runs.length.toLocaleString('en')} (narrow the filter to group the rest)`
          : ''}
        {metric ? `; best ${metric} per group` : ''}
      </p>
      {groups.map((g) => (
        <details class="group" key={g.key}>
          <summary>
            <strong>{g.key}</strong>{' '}
            <span class="count">
              {g.runs.length.toLocaleString('en')} run{g.runs.length === 1 ? '' : 's'}
            </span>
            {g.best ? (
              <span class="muted">
                {' '}
                · best {metric}: <span class="num">{fmtNum(g.best.value)}</span> (
                {g.best.run.humanName ?? g.best.run.id.slice(0, 8)})
              </span>
            ) : null}
          </summary>
          <RunTable
            rows={g.runs.slice(0, GROUP_ROWS)}
            columns={l.columns}
            sort={sort}
            selected={props.selected}
            toggle={props.toggle}
            go={props.go}
            caption={`Runs of ${what} ${g.key}`}
          />
          {g.runs.length > GROUP_ROWS ? (
            <p class="muted">
              The first {GROUP_ROWS} of {g.runs.length.toLocaleString('en')} shown.
            </p>
          ) : null}
        </details>
      ))}
    </>
  );
}

function RunTable(props: {
  rows: Row[];
  columns: string[];
  sort: string;
  selected: string[];
  toggle: (id: string) => void;
  go: (over: Record<string, string | number | undefined>) => void;
  caption?: string;
}) {
  const { sort, selected, toggle, go } = props;
  return (
    <div class="scroll">
      <table class="runs">
        <caption class="sr-only">{props.caption ?? 'Runs'}</caption>
        <thead>
          <tr>
            <th scope="col">
              <span class="sr-only">Select</span>
            </th>
            <th scope="col">Run</th>
            <th scope="col">Status</th>
            <th scope="col">Project</th>
            <th scope="col">Created</th>
            {props.columns.map((c) => (
              <th
                scope="col"
                key={c}
                aria-sort={sort === c ? 'ascending' : sort === `-${c}` ? 'descending' : undefined}
              >
                <button type="button" class="link" onClick={() => go({ sort: sort === `-${c}` ? c : `-${c}` })}>
                  {c}
                  {sort === c ? ' ▲' : sort === `-${c}` ? ' ▼' : ''}
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r) => (
            <tr key={r.id}>
              <td>
                <input
                  type="checkbox"
                  aria-label={`select ${r.humanName ?? r.id}`}
                  checked={selected.includes(r.id)}
                  onChange={() => toggle(r.id)}
                />
              </td>
              <td>
                <Link href={`/runs/${r.id}`}>{r.humanName ?? r.id.slice(0, 8)}</Link>{' '}
                <span class="muted">{r.name}</span>
              </td>
              <td>
                <span class={`status ${r.status}`}>{r.status}</span>
              </td>
              <td>{r.project}</td>
              <td>{fmtTime(r.createdAt)}</td>
              {props.columns.map((c) => (
                <td key={c} class="num">
                  {fmtNum(r.values[c])}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
