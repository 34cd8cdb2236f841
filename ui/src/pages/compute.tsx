// /compute: the queue with its reasons, GPU-hours, cost, idle and saved hours, budgets.
import { call } from '../api.js';
import { fmtTime, Json, Show, useData } from '../data.js';
import { Link } from '../router.js';
import { AutoTable } from '../table.js';

interface Usage {
  currency: string;
  rows: Array<Record<string, unknown>>;
  total: Record<string, unknown>;
}

export function ComputePage() {
  const [byProject] = useData(() => call<Usage>('compute.usage', { query: { by: 'project' } }), []);
  const [byUser] = useData(() => call<Usage>('compute.usage', { query: { by: 'user' } }), []);
  const [projects] = useData(() => call<Array<Record<string, unknown>>>('compute.projects'), []);
  const [queued] = useData(
    () =>
      call<{
        runs: Array<{
          id: string;
          humanName: string | null;
          status: string;
          project: string;
          createdAt: string;
          reason: unknown;
        }>;
      }>('runs.find', { query: { filter: 'status == queued or status == pending or status == running', limit: 200 } }),
    [],
  );
  return (
    <>
      <h1>Compute</h1>
      <h2>Queue</h2>
      <Show v={queued} what="queue">
        {(l) =>
          l.runs.length ? (
            <AutoTable
              caption="Runs waiting or running, with why"
              rows={l.runs as unknown as Array<Record<string, unknown>>}
              columns={['humanName', 'status', 'project', 'createdAt', 'reason']}
              render={{
                humanName: (v, r) => <Link href={`/runs/${String(r.id)}`}>{String(v ?? r.id)}</Link>,
                createdAt: (v) => fmtTime(String(v)),
                reason: (v) => (v ? <Json value={v} /> : '–'),
              }}
            />
          ) : (
            <p class="muted">Nothing is waiting or running.</p>
          )
        }
      </Show>
      <h2>Usage by project</h2>
      <Show v={byProject} what="usage">
        {(u) => (
          <AutoTable
            caption={`GPU-hours and cost (${u.currency}), idle and saved by the cache`}
            rows={[...u.rows, u.total]}
          />
        )}
      </Show>
      <h2>Usage by person</h2>
      <Show v={byUser} what="usage">
        {(u) => <AutoTable caption={`By person (${u.currency})`} rows={[...u.rows, u.total]} />}
      </Show>
      <h2>Quotas and budgets</h2>
      <Show v={projects} what="projects">
        {(p) => <AutoTable caption="Projects with a quota or budget" rows={p} />}
      </Show>
    </>
  );
}
