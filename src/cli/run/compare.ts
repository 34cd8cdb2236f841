import type { OptionsOf } from '../table/define.js';
import type { runCompare } from './commands.js';
import type { RunComparison } from '../../compute/index.js';
import { commandContext, withServices } from '../context.js';
import { cell, renderTable, tableFormat, type TableFormat } from './table.js';

/** Rows of the comparison: one per field, one column per run. */
export function comparisonRows(c: RunComparison, all: boolean, format: TableFormat): string[][] {
  const rows: string[][] = [];
  rows.push(['spec', ...c.runs.map((r) => r.spec)]);
  rows.push(['status', ...c.runs.map((r) => r.status)]);
  rows.push(['duration (s)', ...c.runs.map((r) => cell(r.durationS))]);
  rows.push(['GPU-hours', ...c.runs.map((r) => cell(r.gpuHours))]);
  const tagKeys = [...new Set(c.runs.flatMap((r) => Object.keys(r.tags)))].sort();
  for (const k of tagKeys) rows.push([`tags.${k}`, ...c.runs.map((r) => r.tags[k] ?? '')]);
  const params = c.params.filter((p) => all || p.differs);
  for (const p of params) rows.push([`params.${p.name}`, ...p.values.map(cell)]);
  for (const m of c.metrics) {
    const mark = (i: number) => (format !== 'csv' && m.bestRun === c.runs[i]!.id && c.runs.length > 1 ? ' *' : '');
    rows.push([`metrics.${m.name} last`, ...m.runs.map((x) => cell(x?.last))]);
    rows.push([`metrics.${m.name} min`, ...m.runs.map((x) => cell(x?.min))]);
    rows.push([`metrics.${m.name} max`, ...m.runs.map((x) => cell(x?.max))]);
    rows.push([
      `metrics.${m.name} best (${m.better})`,
      ...m.runs.map((x, i) => (x ? `${cell(x.best)}${mark(i)}` : '')),
    ]);
  }
  return rows;
}

export async function run(refs: string[], opts: OptionsOf<typeof runCompare>): Promise<void> {
  const ctx = commandContext(opts);
  const format = tableFormat(opts);
  const c = await withServices(opts, 'run compare', (s) =>
    s.runs.compare(refs, { lowerIsBetter: opts.lower, higherIsBetter: opts.higher }),
  );
  ctx.out.result(c);
  if (ctx.json) return;
  const header = ['', ...c.runs.map((r) => r.name ?? r.id)];
  ctx.out.say(renderTable(header, comparisonRows(c, opts.all === true, format), format));
  if (format === 'text') {
    const same = c.params.filter((p) => !p.differs).length;
    if (!opts.all && same)
      ctx.out.say(`(${same} ${same === 1 ? 'param is' : 'params are'} the same in every run; --all shows them)`);
    if (c.metrics.length && c.runs.length > 1) ctx.out.say('* the best run for that metric');
  }
}
