import type { OptionsOf } from '../table/define.js';
import type { dataErase } from './commands.js';
import { commandContext, withServices } from '../context.js';
import { formatBytes } from '../format.js';
import { CairnError } from '../../core/errors.js';
import type { ImpactList, RemoteErasure } from '../../compliance/index.js';

/** One line per configured remote: what erasure did there, or why it is still to do. */
function remoteLines(rs: readonly RemoteErasure[]): string[] {
  return rs.map((x) => {
    const kept = x.kept.length
      ? `; ${x.kept.length} pack(s) kept, needed by live version(s) this workspace does not hold (${[...new Set(x.kept.flatMap((k) => k.neededBy))].slice(0, 5).join(', ')}): pull them and rerun`
      : '';
    switch (x.status) {
      case 'clean':
        return `remote ${x.remote}: holds no erased bytes`;
      case 'planned':
        return x.versions.length
          ? `remote ${x.remote}: would delete ${x.packsDeleted} pack(s) of ${x.versions.length} erased version(s), re-sending ${x.packsSent} for live versions${kept}`
          : `remote ${x.remote}: holds none of it`;
      case 'cleaned':
        return `remote ${x.remote}: deleted ${x.packsDeleted} pack(s) of ${x.versions.length} erased version(s), sent ${x.packsSent}${kept}`;
      default:
        return `warning: remote ${x.remote} is pending (${x.error?.code ?? 'failed'}: ${x.error?.message ?? ''}): its erased bytes stay until you rerun this command`;
    }
  });
}

export async function run(ref: string, opts: OptionsOf<typeof dataErase>): Promise<void> {
  if (opts.subject !== undefined || opts.key !== undefined || opts.scan || opts.column !== undefined || opts.dryRun)
    return bySubject(ref, opts);
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'data erase', (s) =>
    s.compliance.erase(ref, { reason: opts.reason, localOnly: opts.localOnly === true }),
  );
  ctx.out.result(r);
  const lines = [
    `${r.alreadyErased ? 'already erased' : 'erased'} ${r.versions.join(', ')} (${r.digest}): ${formatBytes(r.gc.bytesFreed)} freed, ${r.gc.packsRepacked} pack(s) rewritten, ${r.gc.packsDeleted} deleted; the record and the audit log stay (they hold digests, not content)`,
    ...impactLines(r.impact),
  ];
  lines.push(...warnings(r));
  ctx.out.say(lines.join('\n'));
}

function impactLines(i: ImpactList): string[] {
  return [
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
}

function warnings(r: {
  keptShared: Array<{ path: string }>;
  laterVersions?: string[];
  remotes: string[];
  remoteErasure: RemoteErasure[];
  checkouts: string[];
}): string[] {
  const lines: string[] = remoteLines(r.remoteErasure);
  if (r.keptShared.length)
    lines.push(
      `warning: ${r.keptShared.length} file(s) keep their bytes because a live version holds identical content: ${r.keptShared
        .slice(0, 10)
        .map((f) => f.path)
        .join(', ')}${r.keptShared.length > 10 ? ', …' : ''} (erase those versions too)`,
    );
  if (r.laterVersions?.length)
    lines.push(
      `note: later versions were made from it and likely hold much of the same data (not erased): ${r.laterVersions.join(', ')}`,
    );
  // Remotes that are not (or no longer) configured here are beyond reach: say so.
  const configured = new Set(r.remoteErasure.map((x) => x.remote));
  const beyond = r.remotes.filter((x) => !configured.has(x));
  if (beyond.length)
    lines.push(
      `warning: pushed to remote(s) ${beyond.join(', ')} since it was made, not erased there (not configured here${r.remoteErasure.length === 0 ? ', or --local-only' : ''}): they may still hold its bytes`,
    );
  if (r.checkouts.length)
    lines.push(`warning: checked out into ${r.checkouts.join(', ')}: delete those working copies by hand`);
  return lines;
}

/** `--subject`: the plan (with --dry-run) or the erasure, file by file and version by version. */
async function bySubject(ref: string, opts: OptionsOf<typeof dataErase>): Promise<void> {
  if (opts.subject === undefined || (opts.key === undefined && !opts.scan && opts.column === undefined))
    throw new CairnError(
      'USAGE',
      'erasure by subject needs --subject <id> and how to find it: --key <pattern>, --scan or --column <name>',
      {
        hint: "e.g. cairn data erase photos --subject u4711 --key 'users/{subject}/**' --dry-run, or cairn data erase crm --subject alice@example.com --scan --dry-run",
      },
    );
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'data erase', (s) =>
    s.compliance.eraseSubject(ref, {
      subject: opts.subject!,
      ...(opts.key !== undefined ? { key: opts.key } : {}),
      ...(opts.scan ? { scan: true } : {}),
      ...(opts.column !== undefined ? { column: opts.column } : {}),
      ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
      dryRun: opts.dryRun === true,
      localOnly: opts.localOnly === true,
    }),
  );
  ctx.out.result(r);
  const lines = [
    r.versions.length === 0
      ? `no version of ${ref} (or derived from it) holds files or rows of the subject: nothing ${r.dryRun ? 'to erase' : 'erased'}`
      : `${r.dryRun ? 'would replace and erase' : 'replaced and erased'} ${r.versions.length} version(s):`,
    ...r.versions.flatMap((v) => [
      `  ${v.ref} (${v.digest}): ${v.remove.length} file(s) of the subject, ${v.rewrite.length} table(s) without its rows, ${v.kept} kept${v.replacement ? ` → ${v.replacement.ref}` : r.dryRun ? '' : ' (nothing left: no replacement)'}`,
      ...v.remove.map(
        (f) =>
          `    - ${f.path}${f.why === 'content' ? ' (same bytes as a file of the subject)' : f.why === 'scan' ? ' (a text the scanner found the subject in)' : ''}`,
      ),
      ...v.rewrite.map(
        (w) =>
          `    ~ ${w.path}: ${w.rows.length} of ${w.total} row(s) removed (row${w.rows.length > 1 ? 's' : ''} ${w.rows.slice(0, 20).join(', ')}${w.rows.length > 20 ? ', …' : ''})`,
      ),
    ]),
    ...(r.versions.length ? impactLines(r.impact) : []),
  ];
  const also = r.erased.filter((e) => !r.versions.some((v) => v.ref === e));
  if (also.length) lines.push(`also erased, holding the very same bytes (no replacement): ${also.join(', ')}`);
  if (r.gc)
    lines.push(
      `${formatBytes(r.gc.bytesFreed)} freed, ${r.gc.packsRepacked} pack(s) rewritten, ${r.gc.packsDeleted} deleted`,
    );
  if (r.dryRun && r.versions.length)
    lines.push('dry run: nothing changed; run again without --dry-run (with --reason) to erase');
  lines.push(...warnings(r));
  ctx.out.say(lines.join('\n'));
}
