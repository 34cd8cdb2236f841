import type { BlobIndex } from '../../storage/blob-index.js';
import type { LocalPackDir } from '../../storage/objects/local-packs.js';
import { damageFinder } from '../../storage/fsck/reachability.js';
import type { TreeLoader } from '../../storage/tree/walk.js';
import type { WorkerPool } from '../../storage/workers/pool.js';
import type { VerifyProblem } from './log-verifier.js';

/** Digests an event names as stored objects (target, inputs, outputs). */
export function namedDigests(entry: string): string[] {
  const e = JSON.parse(entry) as { target?: { digest?: string }; inputs?: string[]; outputs?: string[] };
  const out = new Set<string>();
  for (const d of [e.target?.digest, ...(e.inputs ?? []), ...(e.outputs ?? [])]) {
    if (typeof d === 'string' && /^sha256:[0-9a-f]{64}$/.test(d)) out.add(d.slice(7));
  }
  return [...out];
}

/** The digest (bare hex) a successful `dataset.erase` event says is gone, or null. */
export function erasedDigest(entry: string): string | null {
  const e = JSON.parse(entry) as { action?: string; outcome?: string; target?: { digest?: string } };
  if (e.action !== 'dataset.erase' || e.outcome !== 'ok') return null;
  const d = e.target?.digest;
  return typeof d === 'string' && /^sha256:[0-9a-f]{64}$/.test(d) ? d.slice(7) : null;
}

/**
 * Re-hashes every stored object the log names: for a version digest that is every blob of
 * its tree. Packs are checked whole (in parallel); a problem names the first event that
 * refers to a damaged or missing object.
 */
export async function verifyArtifacts(input: {
  firstMention: Map<string, number>;
  index: BlobIndex;
  packs: LocalPackDir;
  pool: WorkerPool;
  load: TreeLoader;
}): Promise<{ problems: VerifyProblem[]; checked: number }> {
  const digests = [...input.firstMention.keys()];
  const locs = await input.index.locate(digests);
  const reach = new Set<string>();
  const problems: VerifyProblem[] = [];
  // Collect every blob below the named trees first, then check the packs that hold them.
  const collect = damageFinder(input.load, () => false, reach);
  for (const d of digests) {
    const loc = locs.get(d);
    if (!loc) {
      problems.push({
        index: input.firstMention.get(d)!,
        kind: 'artifact',
        message: `object sha256:${d} named by entry ${input.firstMention.get(d)} is not in the store`,
      });
      continue;
    }
    if (loc.kind === 2) await collect(d);
    else reach.add(d);
  }
  const blobLocs = await input.index.locate([...reach]);
  const packs = new Set([...blobLocs.values()].map((l) => l.packId));
  const bad = new Set<string>();
  await Promise.all(
    [...packs].map(async (p) => {
      const reply = (await input.pool.run({ type: 'check-pack', path: input.packs.packPath(p), packId: p })) as {
        result: { ok: boolean; badBlobs: string[]; entries: Array<{ id: string }> };
      };
      if (!reply.result.ok) for (const [id, l] of blobLocs) if (l.packId === p) bad.add(id);
      for (const b of reply.result.badBlobs) bad.add(b);
    }),
  );
  for (const id of reach) if (!blobLocs.has(id)) bad.add(id);
  if (bad.size > 0) {
    const finder = damageFinder(input.load, (id) => bad.has(id));
    for (const d of digests) {
      if (!locs.has(d)) continue;
      const dmg = locs.get(d)!.kind === 2 ? await finder(d) : { files: bad.has(d) ? [''] : [], unreadable: [] };
      if (dmg.files.length || dmg.unreadable.length) {
        const at = input.firstMention.get(d)!;
        problems.push({
          index: at,
          kind: 'artifact',
          message: `object sha256:${d} named by entry ${at} no longer matches its digest${dmg.files.length ? ` (damaged files: ${dmg.files.slice(0, 5).join(', ')})` : ''}`,
        });
      }
    }
  }
  return { problems, checked: reach.size };
}
