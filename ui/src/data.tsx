// Loading data for a page: one hook, one way to show "loading", errors and "not found".
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.js';
import { Link } from './router.js';

export type Loaded<T> = { state: 'loading' } | { state: 'error'; error: ApiError } | { state: 'ok'; data: T };

/** Runs `load` whenever a key changes; a late answer to an older key is dropped. */
export function useData<T>(load: () => Promise<T>, keys: unknown[]): [Loaded<T>, () => void] {
  const [v, setV] = useState<Loaded<T>>({ state: 'loading' });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setV((old) => (old.state === 'ok' ? old : { state: 'loading' }));
    load().then(
      (data) => live && setV({ state: 'ok', data }),
      (err: unknown) => live && setV({ state: 'error', error: asApiError(err) }),
    );
    return () => {
      live = false;
    };
  }, [...keys, tick]);
  return [v, () => setTick((t) => t + 1)];
}

export function asApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError('INTERNAL', String((err as Error)?.message ?? err), 0);
}

/** Shows a loaded value, or the clear page for loading, not-found and other errors. */
export function Show<T>(props: { v: Loaded<T>; what: string; children: (data: T) => ComponentChildren }) {
  const { v } = props;
  if (v.state === 'loading')
    return (
      <p class="muted" aria-busy="true">
        Loading {props.what}…
      </p>
    );
  if (v.state === 'error') return <ErrorBox error={v.error} what={props.what} />;
  return <>{props.children(v.data)}</>;
}

export function ErrorBox(props: { error: ApiError; what?: string }) {
  const e = props.error;
  if (e.code === 'NOT_FOUND' || e.code === 'INVALID_REF')
    return (
      <div class="notfound" role="alert">
        <h2>Not found</h2>
        <p>
          {props.what ? `No ${props.what}: ` : ''}
          {e.message}
        </p>
        {e.hint ? <p class="muted">{e.hint}</p> : null}
        <p>
          <Link href="/">Back to the overview</Link>
        </p>
      </div>
    );
  return (
    <div class="error" role="alert">
      <strong>{e.code}</strong>: {e.message}
      {e.hint ? <div class="muted">{e.hint}</div> : null}
    </div>
  );
}

export function fmtNum(v: unknown): string {
  if (typeof v !== 'number') return v === null || v === undefined ? '–' : String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en');
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : v.toPrecision(4).replace(/\.?0+$/, '');
}

export function fmtTime(s: string | null | undefined): string {
  if (!s) return '–';
  return s.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
}

export function fmtBytes(n: number | null | undefined): string {
  if (typeof n !== 'number') return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < u.length - 1) {
    x /= 1024;
    i++;
  }
  return `${i === 0 ? x : x.toFixed(1)} ${u[i]}`;
}

/** Any JSON value as text, for fields whose shape varies (a reason, an event's params). */
export function Json(props: { value: unknown }) {
  return <pre class="json">{JSON.stringify(props.value, null, 2)}</pre>;
}
