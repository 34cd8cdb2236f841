import { canonicalJson } from '../core/canonical-json.js';
import { sha256Hex as sha } from '../core/digest.js';
import { uuidv7 } from '../core/ids.js';
import type { Workspace } from '../app/workspace.js';
import { recordPacks } from '../meta/repos/chunks.js';
import { createDataset, insertVersion } from '../meta/repos/datasets.js';
import type { BlobKindCode } from '../storage/pack/format.js';
import { PackWriter } from '../storage/pack/writer.js';

/** A tree node as a store would hold it: canonical JSON, id = its SHA-256. */
export function handNode(entries: unknown[]): { id: string; bytes: Buffer } {
  const bytes = Buffer.from(canonicalJson({ v: 1, entries }), 'utf8');
  return { id: sha(bytes), bytes };
}

/**
 * Plants `name@v1` whose trees were made by hand (as a tampered store or a hostile remote
 * could deliver them, skipping every check `data add` makes): blobs go into a real pack, and
 * the pack and a version row are registered in one audited transaction.
 */
export async function plantVersion(
  ws: Workspace,
  name: string,
  root: string,
  blobs: Array<{ kind: BlobKindCode; bytes: Buffer }>,
): Promise<void> {
  const w = await PackWriter.create(ws.packs);
  const seen = new Set<string>();
  for (const b of blobs) {
    const id = sha(b.bytes);
    if (seen.has(id)) continue;
    seen.add(id);
    w.append(b.kind, id, b.bytes);
  }
  const pack = await w.finish();
  await ws.audit.audited({ action: 'dataset.version.create', target: { type: 'dataset', name } }, async (commit) =>
    commit(async (tx) => {
      const now = new Date().toISOString();
      await recordPacks(tx, [pack], now);
      const dsId = uuidv7();
      await createDataset(tx, { id: dsId, name, created_at: now, created_by: 'mallory' });
      await insertVersion(tx, {
        id: uuidv7(),
        dataset_id: dsId,
        number: 1,
        digest: root,
        parent_id: null,
        message: 'hand-made',
        author: 'mallory',
        created_at: now,
        file_count: 1,
        total_bytes: 5,
        new_bytes: 0,
        stats: canonicalJson({
          files: 1,
          bytes: 5,
          dirs: 0,
          symlinks: 0,
          chunks: 1,
          newChunks: 0,
          newBytes: 0,
          extensions: [],
        }),
      });
    }),
  );
}
