// /releases: deployments, newest first, and the DORA metrics they give.
import { call } from '../api.js';
import { fmtNum, fmtTime, Show, useData } from '../data.js';
import { Link } from '../router.js';
import { AutoTable } from '../table.js';

interface Dora {
  window: { since: string; until: string; days: number };
  deploymentFrequency: { deployments: number; perWeek: number; reason: string | null };
  leadTime: { medianS: number | null; p90S: number | null; reason: string | null };
  changeFailureRate: { failed: number; total: number; rate: number | null; reason: string | null };
  timeToRestore: { medianS: number | null; reason: string | null };
}

export function ReleasesPage() {
  const model = new URLSearchParams(location.search).get('model') ?? undefined;
  const [deps] = useData(
    () => call<Array<Record<string, unknown>>>('deployments.list', { query: { model, limit: 200 } }),
    [model],
  );
  const [dora] = useData(() => call<Dora>('deployments.dora', { query: { model } }), [model]);
  return (
    <>
      <h1>Releases and deployments{model ? ` of ${model}` : ''}</h1>
      <h2>DORA metrics</h2>
      <Show v={dora} what="DORA metrics">
        {(d) => (
          <div class="cards">
            <div class="card">
              <strong>{fmtNum(d.deploymentFrequency.perWeek)}</strong> deployments a week
              <div class="muted">
                {d.deploymentFrequency.reason ?? `${d.deploymentFrequency.deployments} in ${d.window.days} days`}
              </div>
            </div>
            <div class="card">
              <strong>{d.leadTime.medianS === null ? '–' : `${fmtNum(d.leadTime.medianS / 3600)} h`}</strong> lead time
              (median)
              <div class="muted">{d.leadTime.reason ?? 'registration to production'}</div>
            </div>
            <div class="card">
              <strong>{d.changeFailureRate.rate === null ? '–' : `${fmtNum(d.changeFailureRate.rate * 100)} %`}</strong>{' '}
              change failure rate
              <div class="muted">
                {d.changeFailureRate.reason ?? `${d.changeFailureRate.failed} of ${d.changeFailureRate.total}`}
              </div>
            </div>
            <div class="card">
              <strong>{d.timeToRestore.medianS === null ? '–' : `${fmtNum(d.timeToRestore.medianS / 3600)} h`}</strong>{' '}
              time to restore
              <div class="muted">{d.timeToRestore.reason ?? 'median'}</div>
            </div>
          </div>
        )}
      </Show>
      <h2>Deployments</h2>
      <Show v={deps} what="deployments">
        {(rows) => (
          <AutoTable
            caption="Deployments, newest first"
            rows={rows}
            columns={['version', 'env', 'alias', 'status', 'startedAt', 'by', 'previous']}
            render={{
              version: (v, r) => <Link href={`/models/${encodeURIComponent(String(r.model))}`}>{String(v)}</Link>,
              startedAt: (v) => fmtTime(String(v)),
            }}
          />
        )}
      </Show>
    </>
  );
}
