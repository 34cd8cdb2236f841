// /releases: deployments, newest first, and the DORA metrics they give: the last 30 days' figures
// for every model together and for each model, and each model's figures week by week (every
// figure is `cairn dora`'s, computed by the server for that window).
import { call } from '../api.js';
import { BarChart } from '../bars.js';
import { colorOf } from '../chart.js';
import { fmtNum, fmtTime, Show, useData } from '../data.js';
import { Link, qs, type Location } from '../router.js';
import { AutoTable } from '../table.js';

export interface Dora {
  window: { since: string; until: string; days: number };
  deploymentFrequency: { deployments: number; perWeek: number | null; reason: string | null };
  leadTime: { medianS: number | null; p90S: number | null; reason: string | null };
  changeFailureRate: { failed: number; total: number; rate: number | null; reason: string | null };
  timeToRestore: { medianS: number | null; reason: string | null };
}

/** Weeks drawn in the per-model charts, the newest ending now. */
const WEEKS = 8;
const WEEK_MS = 7 * 86_400_000;

/** Back-to-back 7-day windows ending at `now`, oldest first. Pure, for the tests. */
export function weekWindows(now: Date, weeks: number): Array<{ since: string; until: string; label: string }> {
  return Array.from({ length: weeks }, (_, i) => {
    const until = new Date(now.getTime() - (weeks - 1 - i) * WEEK_MS);
    const since = new Date(until.getTime() - WEEK_MS);
    return { since: since.toISOString(), until: until.toISOString(), label: since.toISOString().slice(5, 10) };
  });
}

export function ReleasesPage(props: { loc: Location }) {
  const model = props.loc.query.get('model') ?? undefined;
  const [deps] = useData(
    () => call<Array<Record<string, unknown>>>('deployments.list', { query: { model, limit: 200 } }),
    [model],
  );
  const [dora] = useData(() => call<Dora>('deployments.dora', { query: { model } }), [model]);
  const [models] = useData(
    () =>
      model
        ? Promise.resolve([model])
        : call<Array<{ name: string }>>('models.list').then((ms) => ms.map((m) => m.name)),
    [model],
  );
  return (
    <>
      <h1>Releases and deployments{model ? ` of ${model}` : ''}</h1>
      {model ? (
        <p>
          <Link href="/releases">All models</Link>
        </p>
      ) : null}
      <h2>DORA metrics{model ? '' : ', all models'}</h2>
      <Show v={dora} what="DORA metrics">
        {(d) => <DoraCards d={d} />}
      </Show>
      <Show v={models} what="models">
        {(ms) => (
          <>
            {ms.map((m) => (
              <ModelDora key={m} model={m} />
            ))}
          </>
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

const hours = (s: number | null) => (s === null ? '–' : `${fmtNum(s / 3600)} h`);

function DoraCards(props: { d: Dora }) {
  const { d } = props;
  return (
    <div class="cards">
      <div class="card">
        <strong>{fmtNum(d.deploymentFrequency.perWeek)}</strong> deployments a week
        <div class="muted">
          {d.deploymentFrequency.reason ?? `${d.deploymentFrequency.deployments} in ${fmtNum(d.window.days)} days`}
        </div>
      </div>
      <div class="card">
        <strong>{hours(d.leadTime.medianS)}</strong> lead time (median)
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
        <strong>{hours(d.timeToRestore.medianS)}</strong> time to restore
        <div class="muted">{d.timeToRestore.reason ?? 'median'}</div>
      </div>
    </div>
  );
}

/** One model: its 30-day figures, and the four metrics for each of the last weeks. */
function ModelDora(props: { model: string }) {
  const { model } = props;
  const [v] = useData(async () => {
    const weeks = weekWindows(new Date(), WEEKS);
    const [all, ...perWeek] = await Promise.all([
      call<Dora>('deployments.dora', { query: { model } }),
      ...weeks.map((w) => call<Dora>('deployments.dora', { query: { model, since: w.since, until: w.until } })),
    ]);
    return { all: all!, weeks, perWeek };
  }, [model]);
  const id = `dora-${model.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  return (
    <section class="dora" aria-labelledby={id}>
      <h3 id={id}>
        <Link href={`/models/${encodeURIComponent(model)}`}>{model}</Link>{' '}
        <Link href={`/releases${qs({ model })}`} class="small">
          (only this model)
        </Link>
      </h3>
      <Show v={v} what={`DORA metrics of ${model}`}>
        {({ all, weeks, perWeek }) => {
          const labels = weeks.map((w) => w.label);
          const chart = (title: string, unit: string, values: Array<number | null>, i: number) => (
            <BarChart
              title={title}
              labels={labels}
              series={[{ name: '', color: colorOf(i), values }]}
              unit={unit}
              width={300}
              height={150}
            />
          );
          return (
            <>
              <DoraCards d={all} />
              <div class="chart-row">
                {chart(
                  'Deployments per week',
                  '',
                  perWeek.map((d) => d.deploymentFrequency.deployments),
                  0,
                )}
                {chart(
                  'Lead time, median (h)',
                  'h',
                  perWeek.map((d) => (d.leadTime.medianS === null ? null : d.leadTime.medianS / 3600)),
                  1,
                )}
                {chart(
                  'Change failure rate (%)',
                  '%',
                  perWeek.map((d) => (d.changeFailureRate.rate === null ? null : d.changeFailureRate.rate * 100)),
                  2,
                )}
                {chart(
                  'Time to restore, median (h)',
                  'h',
                  perWeek.map((d) => (d.timeToRestore.medianS === null ? null : d.timeToRestore.medianS / 3600)),
                  3,
                )}
              </div>
            </>
          );
        }}
      </Show>
    </section>
  );
}
