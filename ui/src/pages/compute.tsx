// /compute: the queue with its reasons, GPU-hours, cost, idle and saved hours over time by
// project, budgets and their burn.
import { call } from '../api.js';
import { BarChart } from '../bars.js';
import { colorOf } from '../chart.js';
import { fmtNum, fmtTime, Json, Show, useData } from '../data.js';
import { Link, navigate, qs, type Location } from '../router.js';
import { AutoTable } from '../table.js';

interface UsageRow {
  key: string;
  runs: number;
  gpuHours: number;
  cost: number;
  idleGpuHours: number | null;
  savedGpuHours: number;
  cpuHours: number;
}
interface Usage {
  currency: string;
  rows: Array<Record<string, unknown>>;
  total: Record<string, unknown>;
  series?: Array<UsageRow & { period: string }>;
}
interface Budget {
  name: string;
  budgetGpuHours: number;
  period: string;
  periodStart: string;
  usedGpuHours: number;
}

const MEASURES = {
  gpuHours: 'GPU-hours',
  cost: 'cost',
  idleGpuHours: 'idle GPU-hours',
  savedGpuHours: 'GPU-hours saved by the cache',
  cpuHours: 'CPU-hours',
} as const;
type Measure = keyof typeof MEASURES;
const INTERVALS = ['day', 'week', 'month'] as const;

/**
 * Periods as columns and projects as stacks: every period from the first to the last with
 * usage (an empty one shows as a gap, not left out), one series per project. Pure, for the tests.
 */
export function usageBars(
  series: Array<UsageRow & { period: string }>,
  measure: Measure,
): { labels: string[]; keys: string[]; values: Array<Array<number | null>> } {
  const labels = [...new Set(series.map((p) => p.period))].sort();
  const keys = [...new Set(series.map((p) => p.key))].sort();
  const at = new Map(series.map((p) => [`${p.period} ${p.key}`, p]));
  return {
    labels,
    keys,
    values: keys.map((k) => labels.map((l) => (at.get(`${l} ${k}`)?.[measure] as number | null | undefined) ?? null)),
  };
}

export function ComputePage(props: { loc: Location }) {
  const q = props.loc.query;
  const interval = (INTERVALS as readonly string[]).includes(q.get('interval') ?? '') ? q.get('interval')! : 'day';
  const measure: Measure = (q.get('show') ?? '') in MEASURES ? (q.get('show') as Measure) : 'gpuHours';
  const set = (over: Record<string, string | undefined>) =>
    navigate(`/compute${qs({ interval: q.get('interval'), show: q.get('show'), ...over })}`, true);
  const [byProject] = useData(() => call<Usage>('compute.usage', { query: { by: 'project', interval } }), [interval]);
  const [budgets] = useData(() => call<Budget[]>('compute.budgets'), []);
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
      <div class="controls">
        <label>
          Show{' '}
          <select value={measure} onChange={(e) => set({ show: (e.target as HTMLSelectElement).value })}>
            {Object.entries(MEASURES).map(([k, l]) => (
              <option key={k} value={k}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label>
          per{' '}
          <select value={interval} onChange={(e) => set({ interval: (e.target as HTMLSelectElement).value })}>
            {INTERVALS.map((i) => (
              <option key={i}>{i}</option>
            ))}
          </select>
        </label>
      </div>
      <Show v={byProject} what="usage">
        {(u) => {
          const b = usageBars(u.series ?? [], measure);
          const label = measure === 'cost' ? `cost (${u.currency})` : MEASURES[measure];
          const any = b.values.some((vs) => vs.some((v) => v !== null && v > 0));
          return (
            <>
              {b.labels.length && any ? (
                <BarChart
                  title={`${label} by project, per ${interval} (runs by the day they were created)`}
                  labels={b.labels}
                  series={b.keys.map((k, i) => ({ name: k, color: colorOf(i), values: b.values[i]! }))}
                  unit={measure === 'cost' ? u.currency : measure === 'cpuHours' ? 'CPU-h' : 'GPU-h'}
                  width={800}
                />
              ) : (
                <p class="muted" role="note">
                  No {label} recorded in any {interval} yet
                  {measure === 'idleGpuHours'
                    ? ' (idle time needs GPU utilization samples, from the local backend with nvidia-smi)'
                    : ''}
                  .
                </p>
              )}
              <AutoTable
                caption={`GPU-hours and cost (${u.currency}), idle and saved by the cache`}
                rows={[...u.rows, u.total]}
              />
            </>
          );
        }}
      </Show>
      <h2>Budgets and their burn</h2>
      <Show v={budgets} what="budgets">
        {(bs) =>
          bs.length ? (
            <div class="scroll">
              <table>
                <caption>GPU-hours used or committed this period (queued and running runs by their time limit)</caption>
                <thead>
                  <tr>
                    <th scope="col">project</th>
                    <th scope="col">period</th>
                    <th scope="col">burn</th>
                    <th scope="col">used of budget</th>
                  </tr>
                </thead>
                <tbody>
                  {bs.map((b) => (
                    <tr key={b.name}>
                      <th scope="row">{b.name}</th>
                      <td>
                        {b.period} from {fmtTime(b.periodStart)}
                      </td>
                      <td>
                        <meter
                          min={0}
                          max={Math.max(b.budgetGpuHours, b.usedGpuHours)}
                          high={b.budgetGpuHours * 0.8}
                          optimum={0}
                          value={b.usedGpuHours}
                          aria-label={`${b.name}: ${fmtNum(b.usedGpuHours)} of ${fmtNum(b.budgetGpuHours)} GPU-hours`}
                        />
                      </td>
                      <td class="num">
                        {fmtNum(b.usedGpuHours)} of {fmtNum(b.budgetGpuHours)} GPU-h (
                        {b.budgetGpuHours ? fmtNum((100 * b.usedGpuHours) / b.budgetGpuHours) : '–'} %)
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <p class="muted">No project has a GPU-hour budget (cairn compute project set &lt;name&gt; --budget …).</p>
          )
        }
      </Show>
      <h2>Usage by person</h2>
      <Show v={byUser} what="usage">
        {(u) => <AutoTable caption={`By person (${u.currency})`} rows={[...u.rows, u.total]} />}
      </Show>
      <h2>Quotas</h2>
      <Show v={projects} what="projects">
        {(p) => <AutoTable caption="Projects with a quota or budget" rows={p} />}
      </Show>
    </>
  );
}
