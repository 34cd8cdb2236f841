import type { OptionsOf } from '../table/define.js';
import type { dataDiff } from './commands.js';
import { isCairnError } from '../../core/errors.js';
import { commandContext, withServices } from '../context.js';
import { formatBytes } from '../format.js';
import type { Output } from '../output.js';
import type { TableDiff } from '../../dataprep/index.js';

export async function run(from: string, to: string, opts: OptionsOf<typeof dataDiff>): Promise<void> {
  const ctx = commandContext(opts);
  const key = opts.key
    ?.split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  const d = await withServices(opts, 'data diff', async (s) => {
    const files = await s.datasets.diff(from, to);
    // Against a team server the versions' bytes are not at hand: the file diff stands alone.
    const table = await s.dataprep
      .diffTables(from, to, {
        ...(key?.length ? { key } : {}),
        ...(opts.file ? { file: opts.file } : {}),
        samples: opts.samples,
      })
      .catch((err: unknown) => {
        if (!isCairnError(err, 'NOT_ON_SERVER')) throw err;
        ctx.out.note('cairn: the row-level table diff needs the versions in a workspace (cairn pull); files only here');
        return null;
      });
    return { ...files, table };
  });
  ctx.out.result(d);
  for (const c of d.added) ctx.out.say(`+ ${c.path}  ${c.newSize !== null ? formatBytes(c.newSize) : c.type}`);
  for (const c of d.removed) ctx.out.say(`- ${c.path}  ${c.oldSize !== null ? formatBytes(c.oldSize) : c.type}`);
  for (const c of d.modified)
    ctx.out.say(
      `M ${c.path}  ${c.oldSize !== null ? formatBytes(c.oldSize) : ''} -> ${c.newSize !== null ? formatBytes(c.newSize) : ''}`,
    );
  ctx.out.say(
    `${d.from} -> ${d.to}: ${d.summary.added} added, ${d.summary.removed} removed, ${d.summary.modified} modified (+${formatBytes(d.summary.bytesAdded)}, -${formatBytes(d.summary.bytesRemoved)})`,
  );
  if (d.table) sayTable(ctx.out, d.table);
}

const show = (row: Record<string, unknown>) => JSON.stringify(row);

function sayTable(out: Output, t: TableDiff): void {
  const s = t.schema;
  out.say('');
  out.say('schema:');
  if (s.added.length + s.removed.length + s.retyped.length === 0) out.say('  unchanged');
  for (const c of s.added) out.say(`  + ${c.name} ${c.type}`);
  for (const c of s.removed) out.say(`  - ${c.name} ${c.type}`);
  for (const c of s.retyped) out.say(`  ~ ${c.name} ${c.from} -> ${c.to}`);
  const by =
    t.key.source === 'row'
      ? 'whole rows (no key: pass --key to see changed rows)'
      : `key ${t.key.columns.join(', ')}${t.key.source === 'inferred' ? ' (inferred)' : ''}`;
  const r = t.rows;
  out.say(
    `rows by ${by}: ${r.from} -> ${r.to}; ${r.added} added, ${r.removed} removed, ${r.changed} changed, ${r.unchanged} unchanged`,
  );
  const cols = Object.entries(t.changedColumns);
  if (cols.length) out.say(`  changed columns: ${cols.map(([c, n]) => `${c} (${n})`).join(', ')}`);
  for (const row of t.samples.added) out.say(`  + ${show(row)}`);
  for (const row of t.samples.removed) out.say(`  - ${show(row)}`);
  for (const c of t.samples.changed)
    out.say(
      `  ~ ${show(c.key)}: ${Object.entries(c.changes)
        .map(([col, v]) => `${col} ${JSON.stringify(v.from)} -> ${JSON.stringify(v.to)}`)
        .join(', ')}`,
    );
}
