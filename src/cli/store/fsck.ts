import type { OptionsOf } from '../table/define.js';
import type { fsck } from './commands.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withServices } from '../context.js';
import { formatBytes } from '../format.js';
import { describeDamage } from '../../store-admin/index.js';

export async function run(opts: OptionsOf<typeof fsck>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'fsck', async (s) => {
    const bar = ctx.progress('fsck');
    try {
      return await s.admin.fsck({
        onProgress: (d, t) => bar.update(d, t),
        ...(opts.repair ? { repair: true } : {}),
      });
    } finally {
      bar.done();
    }
  });
  ctx.out.say(`checked ${r.packsChecked} packs, ${r.blobsChecked} blobs, ${formatBytes(r.bytesChecked)}`);
  for (const p of r.missingPacks) ctx.out.say(`missing pack ${p}`);
  for (const p of r.corruptPacks) ctx.out.say(`corrupt pack ${p.pack}: ${p.reason}`);
  for (const b of r.corruptBlobs) ctx.out.say(`corrupt blob ${b.blob} in pack ${b.pack}`);
  for (const b of r.misplacedBlobs) ctx.out.say(`blob ${b.blob} is not where the index says (pack ${b.pack})`);
  if (r.repaired)
    ctx.out.say(
      `repaired the blob index from the packs: ${r.repaired.rowsRestored} row(s) restored, ${r.repaired.rowsMoved} moved, ${r.repaired.packsRecorded} pack(s) recorded`,
    );
  for (const d of r.indexDamage) ctx.out.say(describeDamage(d));
  for (const p of r.unreadablePacks) ctx.out.say(`unreadable pack ${p.pack} (no metadata refers to it): ${p.reason}`);
  for (const v of r.brokenVersions) {
    ctx.out.say(
      `damaged version ${v.ref}: ${v.files.length} file(s)${v.files.length ? `: ${v.files.slice(0, 10).join(', ')}${v.files.length > 10 ? ', …' : ''}` : ''}${v.unreadableTrees.length ? `; unreadable directories: ${v.unreadableTrees.map((t) => t || '/').join(', ')}` : ''}`,
    );
  }
  for (const c of r.poisonedCaches)
    ctx.out.say(
      `changed cache entry .cairn/cache/${c}: it is never served, and its next use (or \`cairn gc\`) rebuilds it`,
    );
  if (r.remoteOnlyVersions.length)
    ctx.out.say(
      `note: ${r.remoteOnlyVersions.length} version(s) have no bytes here, only metadata (\`pull --metadata-only\`, or pushed to this server): ${r.remoteOnlyVersions.slice(0, 10).join(', ')}${r.remoteOnlyVersions.length > 10 ? ', …' : ''}; \`cairn pull <ref>\` fetches them`,
    );
  if (r.orphanPacks.length || r.tempFiles)
    ctx.out.say(
      `note: ${r.orphanPacks.length} unreferenced pack(s), ${r.tempFiles} temp file(s) from interrupted writes; \`cairn gc\` removes them`,
    );
  if (!r.ok) {
    // With --json the report travels inside the error document: stdout holds one JSON document.
    const damaged =
      r.missingPacks.length +
        r.corruptPacks.length +
        r.corruptBlobs.length +
        r.misplacedBlobs.length +
        r.brokenVersions.length +
        r.unreadablePacks.length >
      0;
    const indexOnly = !damaged && r.indexDamage.length > 0;
    throw new CairnError(
      'CHECK_FAILED',
      damaged
        ? `the object store is damaged: ${r.brokenVersions.length} version(s) affected`
        : indexOnly
          ? `the blob index lost or misplaced ${r.indexDamage.length} live blob(s) that are intact in the packs`
          : `${r.poisonedCaches.length} cache entr(ies) were changed on disk; the store itself is intact`,
      {
        data: { brokenVersions: r.brokenVersions.map((v) => v.ref), poisonedCaches: r.poisonedCaches, report: r },
        hint: damaged
          ? 'restore the named packs from a remote or backup (`cairn pull`), or re-add the affected data'
          : indexOnly
            ? "run `cairn fsck --repair` to restore the index from the packs' own indexes (gc refuses until then)"
            : 'run `cairn gc` to remove them (they are rebuilt on their next use)',
      },
    );
  }
  ctx.out.result(r);
  ctx.out.say('ok: every object matches its digest');
}
