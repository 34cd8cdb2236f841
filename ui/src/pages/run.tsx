// /runs/<id>: status and why, params, metrics with their curves, logs (followed while it runs), lineage.
import { useEffect, useState } from 'preact/hooks';
import { call } from '../api.js';
import { LineChart } from '../chart.js';
import { fmtNum, fmtTime, Json, Show, useData } from '../data.js';
import { Link, qs } from '../router.js';
import { Fields } from '../table.js';
import { curveOf, type Series } from './compare.js';

interface RunDetails {
  id: string;
  name: string;
  humanName: string | null;
  project: string;
  status: string;
  backend: string;
  gpus: number;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  exitCode: number | null;
  runKey: string;
  reusedFrom: string | null;
  code: { commit: string | null; dirty: string | null };
  params: Record<string, unknown>;
  metrics: Array<{ name: string; points: number; last: number; min: number; max: number }>;
  usage: unknown;
  output: string | null;
  gpuHours: number;
  tags: Record<string, string>;
}

const ENDED = new Set(['completed', 'failed', 'cancelled', 'reused', 'refused', 'preempted']);

export function RunPage(props: { id: string }) {
  const [run] = useData(() => call<RunDetails>('runs.show', { params: { id: props.id } }), [props.id]);
  return (
    <Show v={run} what={`run ${props.id}`}>
      {(r) => <Run r={r} />}
    </Show>
  );
}

function Run(props: { r: RunDetails }) {
  const { r } = props;
  const [why] = useData(() => call<{ reason: unknown }>('runs.why', { params: { id: r.id } }), [r.id]);
  return (
    <>
      <h1>
        Run {r.humanName ?? r.id} <span class={`status ${r.status}`}>{r.status}</span>
      </h1>
      <Fields
        label="Run"
        value={{
          id: r.id,
          spec: r.name,
          project: r.project,
          backend: r.backend,
          gpus: r.gpus,
          created: fmtTime(r.createdAt),
          started: fmtTime(r.startedAt),
          ended: fmtTime(r.endedAt),
          exit: r.exitCode,
          'GPU-hours': r.gpuHours,
          'run key': r.runKey,
          'reused from': r.reusedFrom,
          commit: r.code.commit,
          output: r.output,
        }}
      />
      <h2>Why it is {r.status}</h2>
      <Show v={why} what="reason">
        {(w) => (w.reason ? <Json value={w.reason} /> : <p class="muted">No reason recorded (it ran as asked).</p>)}
      </Show>
      {r.reusedFrom ? (
        <p>
          A cache hit: an identical finished run (same run key) was reused:{' '}
          <Link href={`/runs/${r.reusedFrom}`}>{r.reusedFrom}</Link>.
        </p>
      ) : null}
      <p>
        <Link href={`/lineage${qs({ ref: r.output ?? '', direction: 'both' })}`}>Inputs and outputs (lineage)</Link>
      </p>
      <h2>Params</h2>
      {Object.keys(r.params).length ? <Fields label="Params" value={r.params} /> : <p class="muted">None.</p>}
      <h2>Metrics</h2>
      {r.metrics.length === 0 ? <p class="muted">No metrics logged.</p> : null}
      {r.metrics.map((m) => (
        <MetricCurve key={m.name} id={r.id} m={m} />
      ))}
      <h2>Logs</h2>
      <Logs id={r.id} ended={ENDED.has(r.status)} />
      <h2>Usage</h2>
      <Json value={r.usage} />
    </>
  );
}

function MetricCurve(props: { id: string; m: RunDetails['metrics'][number] }) {
  const { m } = props;
  const [s] = useData(
    () => call<Series>('runs.metricSeries', { params: { id: props.id, name: m.name }, query: { buckets: 500 } }),
    [props.id, m.name],
  );
  return (
    <div class="metric">
      <p>
        <strong>{m.name}</strong>: last {fmtNum(m.last)}, min {fmtNum(m.min)}, max {fmtNum(m.max)}, {m.points} points
      </p>
      {m.points > 1 ? (
        <Show v={s} what={`curve of ${m.name}`}>
          {(ser) => (
            <LineChart curves={[curveOf(ser, m.name)]} title={m.name} logY={false} xLabel={ser.by} height={200} />
          )}
        </Show>
      ) : null}
    </div>
  );
}

/** The last lines of stdout and stderr, asked again every 2 s while the run has not ended. */
function Logs(props: { id: string; ended: boolean }) {
  const [stream, setStream] = useState<'stdout' | 'stderr'>('stdout');
  const [text, setText] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const load = () =>
      call<string>('runs.tail', { params: { id: props.id }, query: { stream, lines: 200 } }).then(
        (t) => live && setText(t),
        () => live && setText(null),
      );
    void load();
    const timer = props.ended ? null : setInterval(load, 2000);
    return () => {
      live = false;
      if (timer) clearInterval(timer);
    };
  }, [props.id, stream, props.ended]);
  return (
    <>
      <div class="controls" role="group" aria-label="Log stream">
        {(['stdout', 'stderr'] as const).map((s) => (
          <button key={s} type="button" aria-pressed={stream === s} onClick={() => setStream(s)}>
            {s}
          </button>
        ))}
        {props.ended ? null : <span class="muted">following…</span>}
      </div>
      <pre class="log" tabIndex={0} aria-label={`${stream} of the run`}>
        {text === null ? '(no log)' : text || '(empty)'}
      </pre>
    </>
  );
}
