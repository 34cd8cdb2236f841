// Charts: uPlot draws many long curves fast on a canvas; a scatter is a few points drawn by hand.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** Dark enough to pass WCAG AA as text on white (run names in tables use them too). */
const COLORS = ['#1f5fa8', '#b3261e', '#1b7a3a', '#7b3fa0', '#a04c00', '#0b6e80', '#6d4c41', '#b0175a', '#555555'];

export function colorOf(i: number): string {
  return i < COLORS.length ? COLORS[i]! : `hsl(${(i * 137.5) % 360} 70% 32%)`;
}

export interface Curve {
  label: string;
  xs: number[];
  ys: number[];
}

/** Exponential smoothing (as TensorBoard's slider): 0 leaves the curve as logged. */
export function smooth(ys: number[], weight: number): number[] {
  if (weight <= 0) return ys;
  const out: number[] = [];
  let last = ys.find((y) => Number.isFinite(y)) ?? 0;
  for (const y of ys) {
    if (Number.isFinite(y)) last = last * weight + (1 - weight) * y;
    out.push(last);
  }
  return out;
}

/** Curves on one x axis: uPlot wants one shared x array, so each curve is placed on the union of steps. */
export function LineChart(props: { curves: Curve[]; title: string; logY: boolean; xLabel: string; height?: number }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const xs = [...new Set(props.curves.flatMap((c) => c.xs))].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    const data: uPlot.AlignedData = [
      xs,
      ...props.curves.map((c) => {
        const col: Array<number | null> = new Array<number | null>(xs.length).fill(null);
        c.xs.forEach((x, i) => {
          const y = c.ys[i]!;
          col[at.get(x)!] = props.logY && y <= 0 ? null : y;
        });
        return col;
      }),
    ];
    const plot = new uPlot(
      {
        title: props.title,
        width: Math.max(320, el.clientWidth || 800),
        height: props.height ?? 320,
        scales: { x: { time: false }, y: props.logY ? { distr: 3 } : {} },
        axes: [{ label: props.xLabel }, {}],
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
        series: [
          { label: props.xLabel },
          ...props.curves.map((c, i) => ({ label: c.label, stroke: colorOf(i), width: 1.5, spanGaps: true })),
        ],
      },
      data,
      el,
    );
    const resize = () => plot.setSize({ width: Math.max(320, el.clientWidth), height: props.height ?? 320 });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.destroy();
    };
  }, [props.curves, props.logY, props.title, props.xLabel, props.height]);
  return <div class="chart" ref={ref} role="img" aria-label={`${props.title}: ${props.curves.length} curves`} />;
}

/** Points of (x, y), one per run, with axis ranges and tick labels. */
export function Scatter(props: {
  points: Array<{ x: number; y: number; label: string; color: string }>;
  xLabel: string;
  yLabel: string;
}) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current;
    if (!c) return;
    const W = c.width;
    const H = c.height;
    const g = c.getContext('2d')!;
    g.clearRect(0, 0, W, H);
    const pad = 48;
    const pts = props.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    const range = (vs: number[]) => {
      const lo = Math.min(...vs);
      const hi = Math.max(...vs);
      return lo === hi ? [lo - 1, hi + 1] : [lo, hi];
    };
    const [x0, x1] = pts.length ? range(pts.map((p) => p.x)) : [0, 1];
    const [y0, y1] = pts.length ? range(pts.map((p) => p.y)) : [0, 1];
    const X = (x: number) => pad + ((x - x0!) / (x1! - x0!)) * (W - 2 * pad);
    const Y = (y: number) => H - pad - ((y - y0!) / (y1! - y0!)) * (H - 2 * pad);
    g.strokeStyle = '#888';
    g.fillStyle = '#333';
    g.font = '12px system-ui, sans-serif';
    g.strokeRect(pad, pad, W - 2 * pad, H - 2 * pad);
    g.fillText(`${props.xLabel}: ${fmt(x0!)} … ${fmt(x1!)}`, pad, H - 16);
    g.save();
    g.translate(14, H - pad);
    g.rotate(-Math.PI / 2);
    g.fillText(`${props.yLabel}: ${fmt(y0!)} … ${fmt(y1!)}`, 0, 0);
    g.restore();
    for (const p of pts) {
      g.fillStyle = p.color;
      g.beginPath();
      g.arc(X(p.x), Y(p.y), 5, 0, Math.PI * 2);
      g.fill();
    }
  }, [props.points, props.xLabel, props.yLabel]);
  return (
    <canvas
      ref={ref}
      class="scatter"
      width={640}
      height={360}
      role="img"
      aria-label={`${props.yLabel} against ${props.xLabel}, ${props.points.length} runs`}
    />
  );
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : String(+v.toPrecision(4));
}
