import type { OptionsOf } from '../table/define.js';
import type { dataErase } from './commands.js';
import { commandContext, withServices } from '../context.js';
import { formatBytes } from '../format.js';

export async function run(ref: string, opts: OptionsOf<typeof dataErase>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'data erase', (s) => s.compliance.erase(ref, { reason: opts.reason }));
  ctx.out.result(r);
  const i = r.impact;
  const lines = [
    `${r.alreadyErased ? 'already erased' : 'erased'} ${r.versions.join(', ')} (${r.digest}): ${formatBytes(r.gc.bytesFreed)} freed, ${r.gc.packsRepacked} pack(s) rewritten, ${r.gc.packsDeleted} deleted; the record and the audit log stay (they hold digests, not content)`,
    `built from it (decide what to retrain or withdraw):`,
    ...[
      ['datasets', i.datasets.map((d) => d.ref)],
      ['runs', i.runs.map((x) => x.ref)],
      ['models', i.models.map((x) => x.ref)],
      ['evaluations', i.evaluations.map((x) => x.ref)],
      ['releases', i.releases.map((x) => x.ref)],
      ['deployments', i.deployments.map((x) => x.ref)],
    ].map(([k, v]) => `  ${String(k)}: ${(v as string[]).length ? (v as string[]).join('; ') : 'none'}`),
  ];
  if (r.keptShared.length)
    lines.push(
      `warning: ${r.keptShared.length} file(s) keep their bytes because a live version holds identical content: ${r.keptShared
        .slice(0, 10)
        .map((f) => f.path)
        .join(', ')}${r.keptShared.length > 10 ? ', …' : ''} (erase those versions too)`,
    );
  if (r.laterVersions.length)
    lines.push(
      `note: later versions were made from it and likely hold much of the same data (not erased): ${r.laterVersions.join(', ')}`,
    );
  if (r.remotes.length)
    lines.push(
      `warning: pushed to remote(s) ${r.remotes.join(', ')} since it was made: they may still hold its bytes; erase does not reach remotes`,
    );
  if (r.checkouts.length)
    lines.push(`warning: checked out into ${r.checkouts.join(', ')}: delete those working copies by hand`);
  ctx.out.say(lines.join('\n'));
}
