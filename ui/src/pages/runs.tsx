// /runs: the run table, filtered and sorted on the server, one page at a time.
import { useState } from 'preact/hooks';
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
    values: Record<string, unknown>;
  }>;
}

const PAGE = 50;
/** Columns shown by default: enough to read, few enough to fit (more through ?columns=). */
const MAX_DEFAULT_COLUMNS = 10;

export function RunsPage(props: { loc: Location }) {
  const q = props.loc.query;
  const filter = q.get('filter') ?? '';
  const sort = q.get('sort') ?? '';
  const page = Math.max(0, Number(q.get('page') ?? 0) || 0);
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
            query: { filter, sort, columns: columns || undefined, limit: PAGE, offset: page * PAGE },
          }),
    [filter, sort, columns, page],
  );
  const [draft, setDraft] = useState(filter);
  const [selected, setSelected] = useState<string[]>([]);
  const go = (over: Record<string, string | number | undefined>) =>
    navigate(`/runs${qs({ filter, sort, columns: q.get('columns') ?? undefined, page: undefined, ...over })}`);
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
            <p class="muted" aria-live="polite">
              {l.matched.toLocaleString('en')} runs match
              {l.matched > PAGE ? `; showing ${page * PAGE + 1}–${Math.min(l.matched, (page + 1) * PAGE)}` : ''}
            </p>
            <div class="scroll">
              <table class="runs">
                <caption class="sr-only">Runs</caption>
                <thead>
                  <tr>
                    <th scope="col">
                      <span class="sr-only">Select</span>
                    </th>
                    <th scope="col">Run</th>
                    <th scope="col">Status</th>
                    <th scope="col">Project</th>
                    <th scope="col">Created</th>
                    {l.columns.map((c) => (
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
                  {l.runs.map((r) => (
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
                      {l.columns.map((c) => (
                        <td key={c} class="num">
                          {fmtNum(r.values[c])}
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <nav class="pager" aria-label="Pages">
              <button type="button" disabled={page === 0} onClick={() => go({ page: page - 1 || undefined })}>
                Previous
              </button>
              <button type="button" disabled={(page + 1) * PAGE >= l.matched} onClick={() => go({ page: page + 1 })}>
                Next
              </button>
            </nav>
          </>
        )}
      </Show>
    </>
  );
}
