// /runs/compare?ids=a,b,…: curves overlaid (downsampled by the server) by step or by time, the
// params that differ, parallel coordinates, any param against any metric, and each run's
// recorded compute usage.
import { useMemo, useState } from 'preact/hooks';
import { call } from '../api.js';
import { colorOf, LineChart, Scatter, smooth, type Curve } from '../chart.js';
import { fmtBytes, fmtNum, Show, useData } from '../data.js';
import { ParallelCoordinates, type Axis } from '../parcoords.js';
import { cell } from '../table.js';
import { Link, navigate, qs, type Location } from '../router.js';

interface Comparison {
  runs: Array<{ id: string; name: string | null; spec: string; status: string; durationS: number | null }>;
  params: Array<{ name: string; values: unknown[]; differs: boolean }>;
  metrics: Array<{
    name: string;
    better: 'higher' | 'lower';
    runs: Array<{ last: number; min: number; max: number; best: number; points: number } | null>;
    bestRun: string | null;
  }>;
}

export interface Series {
  id: string;
  name: string;
  points: number;
  by: 'step' | 'time';
  buckets: Array<{ steps: [number, number] | null; times: [string, string] | null; mean: number }>;
}

/** Points enough for a chart as wide as a screen: the server keeps min/max/mean per bucket. */
const BUCKETS = 1000;

export function curveOf(s: Series, label: string): Curve {
  const t0 = s.buckets[0]?.times ? Date.parse(s.buckets[0].times[0]) : 0;
  return {
    label,
    xs: s.buckets.map((b) => (b.steps ? b.steps[0] : (Date.parse(b.times![0]) - t0) / 1000)),
    ys: s.buckets.map((b) => b.mean),
  };
}

/**
 * Curves asked for as the page opens, beside the comparison rather than after it, when the link
 * names the metric; taken once by the chart (a later visit asks again).
 */
let early: { key: string; curves: Promise<Series[]> } | null = null;

function askCurves(ids: string[], metric: string, x: 'step' | 'time'): Promise<Series[]> {
  return call<Series[]>('runs.curves', { query: { ids: ids.join(','), name: metric, buckets: BUCKETS, x } });
}

function takeCurves(ids: string[], metric: string, x: 'step' | 'time'): Promise<Series[]> {
  const key = `${ids.join(',')}\n${metric}\n${x}`;
  const mine = early?.key === key ? early.curves : askCurves(ids, metric, x);
  early = null;
  return mine;
}

export function ComparePage(props: { loc: Location }) {
  const ids = (props.loc.query.get('ids') ?? '').split(',').filter(Boolean);
  const [cmp] = useData(() => {
    const metric = props.loc.query.get('metric');
    const x = props.loc.query.get('x') === 'time' ? 'time' : 'step';
    if (metric && ids.length) {
      const curves = askCurves(ids, metric, x);
      curves.catch(() => undefined);
      early = { key: `${ids.join(',')}\n${metric}\n${x}`, curves };
    }
    return call<Comparison>('runs.compare', { query: { refs: ids.join(',') } });
  }, [ids.join(',')]);
  if (ids.length === 0)
    return (
      <>
        <h1>Compare runs</h1>
        <p>
          Select runs on <Link href="/runs">the run table</Link> and press Compare.
        </p>
      </>
    );
  return (
    <>
      <h1>Compare {ids.length} runs</h1>
      <Show v={cmp} what="runs to compare">
        {(c) => <Compared c={c} loc={props.loc} />}
      </Show>
    </>
  );
}

function Compared(props: { c: Comparison; loc: Location }) {
  const { c, loc } = props;
  const q = loc.query;
  const metricNames = c.metrics.map((m) => m.name);
  const metric = q.get('metric') ?? metricNames[0] ?? '';
  const logY = q.get('log') === '1';
  const xBy = q.get('x') === 'time' ? 'time' : 'step';
  const [weight, setWeight] = useState(Number(q.get('smooth') ?? 0));
  const ids = c.runs.map((r) => r.id);
  const label = (i: number) => c.runs[i]!.name ?? c.runs[i]!.id.slice(0, 8);
  const [curves] = useData(
    () => (metric ? takeCurves(ids, metric, xBy) : Promise.resolve([])),
    [ids.join(','), metric, xBy],
  );
  const set = (over: Record<string, string | undefined>) =>
    navigate(
      `/runs/compare${qs({ ids: q.get('ids'), metric, log: logY ? '1' : undefined, x: xBy === 'time' ? 'time' : undefined, sx: q.get('sx'), sy: q.get('sy'), ...over })}`,
      true,
    );
  const differing = c.params.filter((p) => p.differs);
  const numericParams = c.params.filter((p) => p.values.some((v) => typeof v === 'number')).map((p) => p.name);
  const sx = q.get('sx') ?? numericParams[0] ?? '';
  const sy = q.get('sy') ?? metric;
  return (
    <>
      <section aria-labelledby="curves">
        <h2 id="curves">Curves</h2>
        <div class="controls">
          <label>
            Metric{' '}
            <select value={metric} onChange={(e) => set({ metric: (e.target as HTMLSelectElement).value })}>
              {metricNames.map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </label>
          <label>
            <input type="checkbox" checked={logY} onChange={() => set({ log: logY ? undefined : '1' })} /> log scale
          </label>
          <fieldset class="inline">
            <legend>x axis</legend>
            <label>
              <input type="radio" name="x" checked={xBy === 'step'} onChange={() => set({ x: undefined })} /> step
            </label>
            <label>
              <input type="radio" name="x" checked={xBy === 'time'} onChange={() => set({ x: 'time' })} /> time
            </label>
          </fieldset>
          <label>
            Smoothing{' '}
            <input
              type="range"
              min={0}
              max={0.99}
              step={0.01}
              value={weight}
              onInput={(e) => setWeight(Number((e.target as HTMLInputElement).value))}
            />{' '}
            {weight.toFixed(2)}
          </label>
        </div>
        <Show v={curves} what="curves">
          {(ss) => <Curves series={ss} weight={weight} logY={logY} metric={metric} label={label} />}
        </Show>
      </section>
      <section aria-labelledby="metrics">
        <h2 id="metrics">Metrics (best of each run)</h2>
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">metric</th>
                {c.runs.map((r, i) => (
                  <th scope="col" key={r.id}>
                    <Link href={`/runs/${r.id}`} style={{ color: colorOf(i) }}>
                      {label(i)}
                    </Link>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {c.metrics.map((m) => (
                <tr key={m.name}>
                  <th scope="row">
                    {m.name} <span class="muted">({m.better} is better)</span>
                  </th>
                  {m.runs.map((v, i) => (
                    <td key={i} class={`num${m.bestRun === c.runs[i]!.id ? ' best' : ''}`}>
                      {v ? fmtNum(v.best) : '–'}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section aria-labelledby="params">
        <h2 id="params">
          Params that differ ({differing.length} of {c.params.length})
        </h2>
        {differing.length ? (
          <div class="scroll">
            <table>
              <tbody>
                {differing.map((p) => (
                  <tr key={p.name}>
                    <th scope="row">{p.name}</th>
                    {p.values.map((v, i) => (
                      <td key={i}>{cell(v)}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <p class="muted">The runs have the same params.</p>
        )}
      </section>
      <section aria-labelledby="parcoords">
        <h2 id="parcoords">Parallel coordinates</h2>
        <p class="muted">
          One axis per param that differs and per metric (each run's best); reorder the axes with the arrows below.
        </p>
        <ParallelCoordinates
          axes={parallelAxes(c)}
          runs={c.runs.map((_, i) => ({ label: label(i), color: colorOf(i) }))}
        />
      </section>
      <section aria-labelledby="scatter">
        <h2 id="scatter">Param against metric</h2>
        <div class="controls">
          <label>
            x{' '}
            <select value={sx} onChange={(e) => set({ sx: (e.target as HTMLSelectElement).value })}>
              {numericParams.map((p) => (
                <option key={p}>{p}</option>
              ))}
            </select>
          </label>
          <label>
            y{' '}
            <select value={sy} onChange={(e) => set({ sy: (e.target as HTMLSelectElement).value })}>
              {metricNames.map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </label>
        </div>
        <ScatterOf c={c} sx={sx} sy={sy} />
      </section>
      <section aria-labelledby="usage">
        <h2 id="usage">Compute usage</h2>
        <UsageOf ids={ids} label={label} />
      </section>
    </>
  );
}

/** Differing params first (the same value everywhere says nothing), then every metric's best. */
export function parallelAxes(c: Comparison): Axis[] {
  return [
    ...c.params.filter((p) => p.differs).map((p) => ({ name: p.name, values: p.values })),
    ...c.metrics.map((m) => ({ name: m.name, values: m.runs.map((v) => v?.best ?? null) })),
  ];
}

/** What runs record about their compute (src/compute/runs/end.ts): totals, and GPU samples over time. */
interface RunUsage {
  elapsedS: number | null;
  cpuSeconds: number | null;
  maxRssKb: number | null;
  gpus: number;
  gpuSeconds: number;
  gpu:
    | { available: true; samples: Array<{ t: number; util: number[]; memMb: number[] }> }
    | { available: false; reason: string };
  idleGpuSeconds: number | null;
}

/** Usage is read run by run (the run page's record): the first this many runs of a comparison. */
const USAGE_RUNS = 20;

function UsageOf(props: { ids: string[]; label: (i: number) => string }) {
  const ids = props.ids.slice(0, USAGE_RUNS);
  const [usage] = useData(
    () =>
      Promise.all(
        ids.map((id) => call<{ usage: RunUsage | null }>('runs.show', { params: { id } }).then((r) => r.usage)),
      ),
    [ids.join(',')],
  );
  return (
    <Show v={usage} what="usage">
      {(us) => {
        const gpuRuns = us.flatMap((u, i) =>
          u?.gpu && u.gpu.available && u.gpu.samples.length ? [{ i, samples: u.gpu.samples }] : [],
        );
        const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
        const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
        const util: Curve[] = gpuRuns.map((g) => ({
          label: props.label(g.i),
          xs: g.samples.map((s) => s.t),
          ys: g.samples.map((s) => mean(s.util)),
        }));
        const mem: Curve[] = gpuRuns.map((g) => ({
          label: props.label(g.i),
          xs: g.samples.map((s) => s.t),
          ys: g.samples.map((s) => sum(s.memMb)),
        }));
        const peakRss = Math.max(1, ...us.map((u) => u?.maxRssKb ?? 0));
        return (
          <>
            {props.ids.length > USAGE_RUNS ? (
              <p class="muted">
                Usage of the first {USAGE_RUNS} of {props.ids.length} runs.
              </p>
            ) : null}
            {gpuRuns.length ? (
              <>
                <LineChart
                  curves={util}
                  title="GPU utilization (%, mean of the run's GPUs)"
                  logY={false}
                  xLabel="seconds"
                  height={220}
                />
                <LineChart
                  curves={mem}
                  title="GPU memory (MiB, all the run's GPUs)"
                  logY={false}
                  xLabel="seconds"
                  height={220}
                />
              </>
            ) : (
              <p class="muted" role="note">
                No GPU utilization was recorded for these runs (
                {[...new Set(us.map((u) => (u?.gpu && !u.gpu.available ? u.gpu.reason : 'no usage record')))].join(
                  '; ',
                )}
                ), so there are no GPU curves.
              </p>
            )}
            <p class="muted" role="note">
              CPU and host memory are recorded once per run, as totals (CPU seconds, peak resident memory), not over
              time: they show as figures, not curves.
            </p>
            <div class="scroll">
              <table class="usage">
                <caption>Recorded usage per run</caption>
                <thead>
                  <tr>
                    <th scope="col">run</th>
                    <th scope="col">wall time</th>
                    <th scope="col">CPU seconds</th>
                    <th scope="col">mean CPU cores</th>
                    <th scope="col">peak memory</th>
                    <th scope="col">GPUs</th>
                    <th scope="col">GPU-hours</th>
                    <th scope="col">idle GPU-hours</th>
                  </tr>
                </thead>
                <tbody>
                  {us.map((u, i) => (
                    <tr key={ids[i]}>
                      <th scope="row" style={{ color: colorOf(i) }}>
                        {props.label(i)}
                      </th>
                      {u ? (
                        <>
                          <td class="num">{u.elapsedS == null ? '–' : `${fmtNum(u.elapsedS)} s`}</td>
                          <td class="num">{fmtNum(u.cpuSeconds)}</td>
                          <td class="num">
                            {u.cpuSeconds != null && u.elapsedS ? fmtNum(u.cpuSeconds / u.elapsedS) : '–'}
                          </td>
                          <td class="num">
                            {u.maxRssKb == null ? (
                              '–'
                            ) : (
                              <span class="bar-cell">
                                <span class="bar" style={{ width: `${(6 * u.maxRssKb) / peakRss}rem` }} />
                                {fmtBytes(u.maxRssKb * 1024)}
                              </span>
                            )}
                          </td>
                          <td class="num">{fmtNum(u.gpus)}</td>
                          <td class="num">{u.gpuSeconds == null ? '–' : fmtNum(u.gpuSeconds / 3600)}</td>
                          <td class="num">{u.idleGpuSeconds == null ? '–' : fmtNum(u.idleGpuSeconds / 3600)}</td>
                        </>
                      ) : (
                        <td colSpan={7} class="muted">
                          no usage recorded (the run has not ended)
                        </td>
                      )}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        );
      }}
    </Show>
  );
}

function Curves(props: {
  series: Series[];
  weight: number;
  logY: boolean;
  metric: string;
  label: (i: number) => string;
}) {
  const { series, weight, logY } = props;
  const curves = useMemo(
    () =>
      series.map((s, i) => {
        const c = curveOf(s, props.label(i));
        return { ...c, ys: smooth(c.ys, weight) };
      }),
    [series, weight],
  );
  const by = series.find((s) => s.points > 0)?.by ?? 'step';
  const missing = series.filter((s) => s.points === 0).length;
  return (
    <>
      <LineChart
        curves={curves}
        title={props.metric}
        logY={logY}
        xLabel={by === 'step' ? 'step' : 'seconds since the first point'}
      />
      {missing ? (
        <p class="muted">
          {missing} of the runs did not log {props.metric}.
        </p>
      ) : null}
    </>
  );
}

function ScatterOf(props: { c: Comparison; sx: string; sy: string }) {
  const { c, sx, sy } = props;
  const param = c.params.find((p) => p.name === sx);
  const m = c.metrics.find((x) => x.name === sy);
  const points = c.runs
    .map((r, i) => ({ x: Number(param?.values[i]), y: Number(m?.runs[i]?.best), label: r.id, color: colorOf(i) }))
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (!param || !m) return <p class="muted">Choose a numeric param and a metric.</p>;
  return <Scatter points={points} xLabel={sx} yLabel={sy} />;
}
