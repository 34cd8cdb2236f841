// The landing page: what is here, and the questions a newcomer comes with, one click each.
import { call, type Me } from '../api.js';
import { Show, useData } from '../data.js';
import { Link, qs } from '../router.js';

interface ModelSummary {
  name: string;
  versions: number;
  aliases: Record<string, string>;
}

export function HomePage(props: { me: Me }) {
  const [models] = useData(() => call<ModelSummary[]>('models.list'), []);
  const [datasets] = useData(() => call<Array<{ name: string }>>('datasets.list'), []);
  const [runs] = useData(() => call<{ matched: number }>('runs.find', { query: { limit: 1 } }), []);
  return (
    <>
      <h1>Overview</h1>
      <p class="lead">
        {props.me.local
          ? 'This is your workspace, served by cairn ui. Everything here reads the same API the CLI uses.'
          : 'This is the team server. You see what your role allows.'}
      </p>
      <section aria-labelledby="start">
        <h2 id="start">Start here</h2>
        <ol class="tour">
          <Show v={models} what="models">
            {(ms) =>
              ms.length ? (
                ms.map((m) => (
                  <li key={m.name}>
                    <Link href={`/models/${encodeURIComponent(m.name)}`}>
                      Why was a version of <strong>{m.name}</strong> blocked or promoted?
                    </Link>{' '}
                    <span class="muted">
                      {m.versions} versions; gates with confidence intervals, approvals, alias timeline
                    </span>
                  </li>
                ))
              ) : (
                <li class="muted">No models registered yet (cairn model register).</li>
              )
            }
          </Show>
          <Show v={models} what="models">
            {(ms) =>
              ms[0] ? (
                <li>
                  <Link href={`/models/${encodeURIComponent(ms[0].name)}#runs`}>
                    Compare the runs that trained {ms[0].name}'s versions
                  </Link>{' '}
                  <span class="muted">curves overlaid, only differing params</span>
                </li>
              ) : null
            }
          </Show>
          <Show v={models} what="models">
            {(ms) => {
              const live = ms.find((m) => m.aliases?.production);
              return live ? (
                <li>
                  <Link href={`/lineage${qs({ ref: `model:${live.name}@production`, direction: 'up' })}`}>
                    Where did {live.name}@production come from?
                  </Link>{' '}
                  <span class="muted">the lineage graph from the data to the deployed model</span>
                </li>
              ) : null;
            }}
          </Show>
          <li>
            <Link href="/audit">Verify the audit log</Link>{' '}
            <span class="muted">the same check as cairn audit verify, from this page</span>
          </li>
        </ol>
      </section>
      <section aria-labelledby="counts" class="cards">
        <h2 id="counts" class="sr-only">
          What is recorded
        </h2>
        <Link href="/runs" class="card">
          <Show v={runs} what="runs">
            {(r) => <strong>{r.matched.toLocaleString('en')}</strong>}
          </Show>{' '}
          runs
        </Link>
        <Link href="/models" class="card">
          <Show v={models} what="models">
            {(m) => <strong>{m.length}</strong>}
          </Show>{' '}
          models
        </Link>
        <Link href="/datasets" class="card">
          <Show v={datasets} what="datasets">
            {(d) => <strong>{d.length}</strong>}
          </Show>{' '}
          datasets
        </Link>
      </section>
    </>
  );
}
