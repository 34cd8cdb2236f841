// /audit: the log with filters, each event as logged, "verify now" (the same check as `cairn
// audit verify`, run by the server) and downloadable checkpoints and inclusion proofs.
import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { asApiError, ErrorBox, fmtTime, Json, Show, useData } from '../data.js';
import { navigate, qs, type Location } from '../router.js';
import type { ApiError } from '../api.js';

interface Event {
  index: number;
  time: string;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  event: Record<string, unknown>;
  tampered: boolean;
}
interface VerifyReport {
  ok: boolean;
  size: number;
  root: string;
  checkpoints: number;
  firstBad: { index: number; problem?: string; message?: string } | null;
  problems: Array<Record<string, unknown>>;
  kept: { size: number; where: string } | null;
}

const FILTERS = ['actor', 'action', 'target', 'outcome', 'since', 'until'] as const;

export function AuditPage(props: { loc: Location }) {
  const q = props.loc.query;
  const filters = Object.fromEntries(FILTERS.map((f) => [f, q.get(f) ?? undefined]));
  const key = FILTERS.map((f) => q.get(f) ?? '').join('|');
  const [events] = useData(() => call<Event[]>('audit.events', { query: { ...filters, limit: 500 } }), [key]);
  return (
    <>
      <h1>Audit log</h1>
      <Verify />
      <h2>Events</h2>
      <form
        class="controls"
        aria-label="Filter events"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.target as HTMLFormElement);
          navigate(`/audit${qs(Object.fromEntries(FILTERS.map((k) => [k, String(f.get(k) ?? '')])))}`);
        }}
      >
        {FILTERS.map((f) => (
          <label key={f}>
            {f}{' '}
            <input
              name={f}
              defaultValue={q.get(f) ?? ''}
              size={f === 'since' || f === 'until' ? 20 : 14}
              placeholder={
                f === 'since' || f === 'until' ? '2026-01-31T00:00Z' : f === 'outcome' ? 'ok, denied, failed' : ''
              }
            />
          </label>
        ))}
        <button type="submit">Filter</button>
      </form>
      <Show v={events} what="events">
        {(es) => (
          <>
            <p class="muted">{es.length} events (the latest 500 that match)</p>
            <ol class="events" reversed>
              {[...es].reverse().map((e) => (
                <EventRow key={e.index} e={e} />
              ))}
            </ol>
          </>
        )}
      </Show>
    </>
  );
}

function EventRow(props: { e: Event }) {
  const { e } = props;
  return (
    <li value={e.index} class={e.tampered ? 'tampered' : e.outcome}>
      <details>
        <summary>
          <span class="idx">#{e.index}</span> <time dateTime={e.time}>{fmtTime(e.time)}</time>{' '}
          <strong>{e.action}</strong> {e.target} <span class="muted">by {e.actor}</span>{' '}
          <span class={`outcome ${e.outcome}`}>{e.outcome}</span>
          {e.tampered ? <strong class="bad"> does not match the log</strong> : null}
        </summary>
        <Json value={e.event} />
        <button
          type="button"
          onClick={() =>
            download(`cairn-proof-${e.index}.json`, () => call('audit.prove', { params: { index: e.index } }))
          }
        >
          Download inclusion proof
        </button>
      </details>
    </li>
  );
}

function Verify() {
  const [state, setState] = useState<
    { s: 'idle' } | { s: 'running' } | { s: 'done'; r: VerifyReport } | { s: 'error'; e: ApiError }
  >({ s: 'idle' });
  const run = async () => {
    setState({ s: 'running' });
    try {
      setState({ s: 'done', r: await call<VerifyReport>('audit.verify', { body: { deep: true } }) });
    } catch (err) {
      setState({ s: 'error', e: asApiError(err) });
    }
  };
  return (
    <section aria-labelledby="verify" class="verify">
      <h2 id="verify">Is the log intact?</h2>
      <p>
        Recomputes every entry's hash, the Merkle tree and every signed checkpoint, and checks that each current row
        (versions, aliases, approvals, runs…) matches the event that made it: the same check as{' '}
        <code>cairn audit verify --deep</code>.
      </p>
      <div class="actions">
        <button type="button" class="primary" onClick={run} disabled={state.s === 'running'}>
          {state.s === 'running' ? 'Verifying…' : 'Verify now'}
        </button>
        <button type="button" onClick={() => download('cairn-checkpoint.json', () => call('audit.checkpoint'))}>
          Download the latest signed checkpoint
        </button>
      </div>
      <div aria-live="polite">
        {state.s === 'done' ? (
          state.r.ok ? (
            <p class="ok" role="status">
              Intact: {state.r.size} entries, {state.r.checkpoints} signed checkpoints, root <code>{state.r.root}</code>
              {state.r.kept ? `; extends the checkpoint kept in ${state.r.kept.where}` : ''}. This proves the log is
              consistent with the key stored beside it; compare a checkpoint kept elsewhere to prove more.
            </p>
          ) : (
            <div class="error" role="alert">
              <strong>The log does not verify.</strong> First bad entry: #{state.r.firstBad?.index ?? '?'}
              <Json value={state.r.firstBad ?? state.r.problems} />
            </div>
          )
        ) : null}
        {state.s === 'error' ? <ErrorBox error={state.e} /> : null}
      </div>
    </section>
  );
}

/** Saves an answer as a file: a blob URL, so nothing but the API is asked. */
async function download(name: string, get: () => Promise<unknown>) {
  const body = JSON.stringify(await get(), null, 2);
  const url = URL.createObjectURL(new Blob([body], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
