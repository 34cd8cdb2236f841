import type { OptionsOf } from '../table/define.js';
import type { dataShow } from './commands.js';
import { commandContext, withServices } from '../context.js';
import { formatBytes, table } from '../format.js';

export async function run(ref: string, opts: OptionsOf<typeof dataShow>): Promise<void> {
  const ctx = commandContext(opts);
  const v = await withServices(opts, 'data show', (s) => s.datasets.show(ref, opts.all ? {} : { limit: opts.limit }));
  ctx.out.result(v);
  ctx.out.say(`${v.ref}  ${v.digest}`);
  ctx.out.say(`created ${v.created} by ${v.author}${v.message ? ` — ${v.message}` : ''}`);
  ctx.out.say(
    `parent: ${v.parent ?? '(none)'}${v.derivedFrom.length ? `; derived from: ${v.derivedFrom.join(', ')}` : ''}${v.tags.length ? `; tags: ${v.tags.join(', ')}` : ''}`,
  );
  ctx.out.say(
    `${v.files} files, ${v.stats.dirs} directories, ${formatBytes(v.bytes)}; ${v.stats.chunks} chunks, ${formatBytes(v.newBytes)} new when added`,
  );
  for (const r of v.reports)
    ctx.out.say(`report: ${r.kind} ${r.digest.slice(0, 19)} ${r.created} ${JSON.stringify(r.summary)}`);
  if (v.stats.extensions.length)
    ctx.out.say(
      `by type: ${v.stats.extensions.map((e) => `${e.ext} ${e.files} (${formatBytes(e.bytes)})`).join(', ')}`,
    );
  ctx.out.say('');
  if (v.erased) {
    ctx.out.say(`ERASED ${v.erased.at} by ${v.erased.by}: the files are gone, this record and its lineage remain`);
    return;
  }
  ctx.out.say(
    table(
      v.listing.map((f) => [
        f.type === 'file' ? formatBytes(f.size!) : '->',
        f.type === 'file' ? f.digest!.slice(0, 19) : f.target!,
        f.path,
      ]),
      ['SIZE', 'DIGEST', 'PATH'],
    ),
  );
  if (v.truncated) ctx.out.say(`… ${v.files - v.listing.length} more files (use --all or --limit)`);
}
