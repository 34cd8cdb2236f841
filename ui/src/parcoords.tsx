// Parallel coordinates: one vertical axis per param or metric, one line per run across them, so
// a sweep's good region shows as lines bundling together. SVG, because 100 runs × 20 axes is a
// few thousand segments, and SVG text is readable by screen readers and escaped by the renderer.
import { useState } from 'preact/hooks';
import { fmtNum } from './data.js';

export interface Axis {
  name: string;
  /** One value per run, in the runs' order: numbers on a linear scale, anything else as categories. */
  values: unknown[];
}

export interface PlacedAxis {
  name: string;
  /** Each run's position on the axis, 0 (bottom) … 1 (top), or null where the run has no value. */
  at: Array<number | null>;
  /** Tick labels with their positions: the range for numbers, every category otherwise. */
  ticks: Array<{ at: number; label: string }>;
}

/**
 * Where each run sits on an axis: numbers scaled between their min and max (a single value in
 * the middle); strings and booleans spread evenly in sorted order. Pure, for the tests.
 */
export function placeAxis(a: Axis): PlacedAxis {
  const nums = a.values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const numeric = nums.length > 0 && a.values.every((v) => v === null || v === undefined || typeof v === 'number');
  if (numeric) {
    const lo = Math.min(...nums);
    const hi = Math.max(...nums);
    const pos = (v: number) => (hi === lo ? 0.5 : (v - lo) / (hi - lo));
    return {
      name: a.name,
      at: a.values.map((v) => (typeof v === 'number' && Number.isFinite(v) ? pos(v) : null)),
      ticks:
        hi === lo
          ? [{ at: 0.5, label: fmtNum(lo) }]
          : [
              { at: 0, label: fmtNum(lo) },
              { at: 1, label: fmtNum(hi) },
            ],
    };
  }
  const key = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  const cats = [...new Set(a.values.filter((v) => v !== null && v !== undefined).map(key))].sort();
  const pos = (i: number) => (cats.length === 1 ? 0.5 : i / (cats.length - 1));
  return {
    name: a.name,
    at: a.values.map((v) => (v === null || v === undefined ? null : pos(cats.indexOf(key(v))))),
    ticks: cats.map((c, i) => ({ at: pos(i), label: c })),
  };
}

/** The longest label drawn in full; longer ones are cut, with the whole text in a tooltip. */
const MAX_LABEL = 18;
const cut = (s: string) => (s.length > MAX_LABEL ? `${s.slice(0, MAX_LABEL - 1)}…` : s);

export function ParallelCoordinates(props: { axes: Axis[]; runs: Array<{ label: string; color: string }> }) {
  const [order, setOrder] = useState<string[]>(() => props.axes.map((a) => a.name));
  // Axes that came or went since the order was set keep their place at the end.
  const names = [
    ...order.filter((n) => props.axes.some((a) => a.name === n)),
    ...props.axes.map((a) => a.name).filter((n) => !order.includes(n)),
  ];
  const placed = names.map((n) => placeAxis(props.axes.find((a) => a.name === n)!));
  const move = (i: number, by: number) => {
    const next = [...names];
    const [x] = next.splice(i, 1);
    next.splice(i + by, 0, x!);
    setOrder(next);
  };
  if (placed.length < 2) return <p class="muted">Parallel coordinates need at least two params or metrics.</p>;
  const W = Math.max(640, placed.length * 130);
  const H = 340;
  const top = 40;
  const bottom = 40;
  const side = 60;
  const X = (i: number) => side + (i * (W - 2 * side)) / (placed.length - 1);
  const Y = (at: number) => top + (1 - at) * (H - top - bottom);
  return (
    <>
      <div class="scroll">
        <svg
          class="parcoords"
          width={W}
          height={H}
          viewBox={`0 0 ${W} ${H}`}
          role="img"
          aria-label={`Parallel coordinates: ${props.runs.length} runs across ${placed.map((p) => p.name).join(', ')}`}
        >
          {props.runs.map((r, ri) => {
            // A run without a value on an axis breaks its line there instead of inventing one.
            let d = '';
            let pen = false;
            placed.forEach((a, i) => {
              const at = a.at[ri];
              if (at === null || at === undefined) {
                pen = false;
                return;
              }
              d += `${pen ? 'L' : 'M'}${X(i).toFixed(1)},${Y(at).toFixed(1)}`;
              pen = true;
            });
            return (
              <path key={ri} class="run" d={d} stroke={r.color} fill="none" stroke-width={2} opacity={0.8}>
                <title>{r.label}</title>
              </path>
            );
          })}
          {placed.map((a, i) => (
            <g key={a.name} class="axis">
              <line x1={X(i)} x2={X(i)} y1={Y(1)} y2={Y(0)} stroke="#444" />
              <text x={X(i)} y={16} text-anchor="middle" class="axis-name">
                <title>{a.name}</title>
                {cut(a.name)}
              </text>
              {a.ticks.slice(0, 12).map((t) => (
                <text key={t.label} x={X(i) + 4} y={Y(t.at) + 4} class="tick">
                  <title>{t.label}</title>
                  {cut(t.label)}
                </text>
              ))}
            </g>
          ))}
        </svg>
      </div>
      <ol class="axis-order" aria-label="Axis order">
        {names.map((n, i) => (
          <li key={n}>
            <span>{n}</span>{' '}
            <button
              type="button"
              class="small"
              disabled={i === 0}
              onClick={() => move(i, -1)}
              aria-label={`Move ${n} left`}
            >
              ←
            </button>
            <button
              type="button"
              class="small"
              disabled={i === names.length - 1}
              onClick={() => move(i, 1)}
              aria-label={`Move ${n} right`}
            >
              →
            </button>
          </li>
        ))}
      </ol>
    </>
  );
}
