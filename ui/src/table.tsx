// A table of any list of flat records: for views whose fields vary (usage, deployments, reports).
import type { ComponentChildren } from 'preact';
import { fmtNum } from './data.js';

export function cell(v: unknown): ComponentChildren {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number') return fmtNum(v);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'string') return v;
  return <code class="small">{JSON.stringify(v)}</code>;
}

export function AutoTable(props: {
  rows: Array<Record<string, unknown>>;
  caption: string;
  columns?: string[];
  render?: Record<string, (v: unknown, row: Record<string, unknown>) => ComponentChildren>;
}) {
  const cols = props.columns ?? [...new Set(props.rows.flatMap((r) => Object.keys(r)))];
  if (props.rows.length === 0) return <p class="muted">No {props.caption.toLowerCase()}.</p>;
  return (
    <div class="scroll">
      <table>
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            {cols.map((c) => (
              <th scope="col" key={c}>
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r, i) => (
            <tr key={i}>
              {cols.map((c) => (
                <td key={c}>{props.render?.[c] ? props.render[c]!(r[c], r) : cell(r[c])}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A record as a two-column list of its fields. */
export function Fields(props: { value: Record<string, unknown>; label: string }) {
  return (
    <dl class="fields" aria-label={props.label}>
      {Object.entries(props.value).map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{cell(v)}</dd>
        </div>
      ))}
    </dl>
  );
}
