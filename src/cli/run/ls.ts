import type { OptionsOf } from '../table/define.js';
import type { runLs } from './commands.js';
import type { ListedRun } from '../../compute/index.js';
import { commandContext, withServices } from '../context.js';
import { cell, renderTable, tableFormat } from './table.js';

export async function run(opts: OptionsOf<typeof runLs>): Promise<void> {
  const ctx = commandContext(opts);
  const format = tableFormat(opts);
  const columns = (opts.columns ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  const listing = await withServices(opts, 'run ls', (s) =>
    s.runs.find({
      ...(opts.project ? { project: opts.project } : {}),
      ...(opts.status ? { status: opts.status } : {}),
      ...(opts.filter ? { filter: opts.filter } : {}),
      ...(opts.sort ? { sort: opts.sort } : {}),
      columns,
      limit: opts.limit,
    }),
  );
  ctx.out.result(listing);
  if (ctx.json) return;
  if (!listing.runs.length && format === 'text') {
    ctx.out.say(opts.filter ? 'no run matches the filter' : 'no runs yet (start one: cairn run cairn.yaml)');
    return;
  }
  const header = ['id', 'name', 'spec', 'status', 'created', ...(columns.length ? columns : ['project', 'backend'])];
  const rows = listing.runs.map((r) => [
    r.id,
    r.humanName ?? '',
    r.name,
    r.status +
      (r.reason && r.status === 'queued' ? ` (${(r.reason as { code: string }).code})` : '') +
      (r.imported ? ` (imported, by ${r.imported.by})` : ''),
    format === 'text' ? r.createdAt.slice(0, 19).replace('T', ' ') : r.createdAt,
    ...(columns.length ? columns.map((c) => cell(r.values[c])) : [r.project, backend(r)]),
  ]);
  ctx.out.say(renderTable(header, rows, format));
  if (format === 'text' && listing.matched > listing.runs.length)
    ctx.out.say(`(${listing.runs.length} of ${listing.matched} shown; --limit to see more)`);
}

const backend = (r: ListedRun) => `${r.backend}${r.gpus ? ` ${r.gpus} GPU` : ''}`;
