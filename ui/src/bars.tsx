// Bar charts over periods (usage per day, DORA figures per week): few bars, so SVG, with every
// figure in a tooltip and the whole chart described for screen readers.
import { fmtNum } from './data.js';

export interface BarSeries {
  name: string;
  color: string;
  /** One value per label; null where there is nothing to show (drawn as a gap, never as 0). */
  values: Array<number | null>;
}

/** The top of the value axis: the largest stack (or bar), never 0. Pure, for the tests. */
export function barScaleMax(series: BarSeries[], stacked: boolean, n: number): number {
  let max = 0;
  for (let i = 0; i < n; i++) {
    const vs = series.map((s) => s.values[i] ?? 0);
    max = Math.max(max, stacked ? vs.reduce((a, b) => a + Math.max(0, b), 0) : Math.max(0, ...vs));
  }
  return max > 0 ? max : 1;
}

export function BarChart(props: {
  title: string;
  labels: string[];
  series: BarSeries[];
  stacked?: boolean;
  unit?: string;
  width?: number;
  height?: number;
}) {
  const { labels, series } = props;
  const stacked = props.stacked ?? true;
  const W = props.width ?? 640;
  const H = props.height ?? 220;
  const left = 56;
  const bottom = 28;
  const top = 24;
  const max = barScaleMax(series, stacked, labels.length);
  const slot = (W - left - 8) / Math.max(1, labels.length);
  const barW = stacked ? slot * 0.7 : (slot * 0.8) / Math.max(1, series.length);
  const Y = (v: number) => top + (1 - v / max) * (H - top - bottom);
  // As many period labels as fit (about 60 px each); every bar still has its tooltip.
  const fit = Math.max(1, Math.floor((W - left) / 60));
  const every = Math.max(1, Math.ceil(labels.length / fit));
  const unit = props.unit ? ` ${props.unit}` : '';
  return (
    <figure class="bars">
      <svg
        width={W}
        height={H}
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`${props.title}: ${series.length} series over ${labels.length} periods, up to ${fmtNum(max)}${unit}`}
      >
        <text x={left} y={14} class="chart-title">
          {props.title}
        </text>
        <line x1={left} x2={W - 8} y1={Y(0)} y2={Y(0)} stroke="#444" />
        <line x1={left} x2={left} y1={Y(0)} y2={Y(max)} stroke="#444" />
        <text x={left - 4} y={Y(max) + 4} text-anchor="end" class="tick">
          {fmtNum(max)}
        </text>
        <text x={left - 4} y={Y(0)} text-anchor="end" class="tick">
          0
        </text>
        {labels.map((l, i) => {
          let base = 0;
          return (
            <g key={l}>
              {series.map((s, si) => {
                const v = s.values[i];
                if (v === null || v === undefined || v < 0) return null;
                // A measured zero is a hairline on the axis, so it reads apart from "no figure".
                if (v === 0)
                  return stacked && si > 0 ? null : (
                    <rect
                      key={s.name}
                      class="bar zero"
                      x={left + i * slot + (stacked ? (slot - barW) / 2 : slot * 0.1 + si * barW)}
                      y={Y(0) - 2}
                      width={Math.max(1, barW - 1)}
                      height={2}
                      fill={s.color}
                    >
                      <title>
                        {s.name}, {l}: 0{unit}
                      </title>
                    </rect>
                  );
                const x = left + i * slot + (stacked ? (slot - barW) / 2 : slot * 0.1 + si * barW);
                const y0 = stacked ? base : 0;
                if (stacked) base += v;
                return (
                  <rect
                    key={s.name}
                    class="bar"
                    x={x}
                    y={Y(y0 + v)}
                    width={Math.max(1, barW - 1)}
                    height={Y(y0) - Y(y0 + v)}
                    fill={s.color}
                  >
                    <title>
                      {s.name}, {l}: {fmtNum(v)}
                      {unit}
                    </title>
                  </rect>
                );
              })}
              {i % every === 0 ? (
                <text x={left + i * slot + slot / 2} y={H - 8} text-anchor="middle" class="tick">
                  {l}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      {series.length > 1 || series[0]?.name ? (
        <figcaption class="legend">
          {series.map((s) => (
            <span key={s.name}>
              <span class="swatch" style={{ background: s.color }} aria-hidden="true" /> {s.name}
            </span>
          ))}
        </figcaption>
      ) : null}
    </figure>
  );
}
