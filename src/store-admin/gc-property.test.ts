// Issue 10, item 1 (the general defence, tested as an invariant): random histories of adds,
// tags, edits and removals, killed adds, duplicate packs and gc. After every gc, every version
// ever recorded checks out byte-identical and fsck is clean. Also forged `blobs`/`packs` rows
// (deleted, or pointed elsewhere: SQL access to the metadata, a crash): the gc that follows
// either keeps every version whole or refuses (INDEX_DAMAGED) having deleted nothing, and after
// `fsck --repair` every version checks out again. Fixed seeds; a longer run:
// `CAIRN_GC_PROPERTY_SEEDS=50 npx vitest run src/store-admin/gc-property.test.ts`.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { sha256Hex as sha } from '../core/digest.js';
import { addVersion } from '../datasets/add.js';
import { checkoutVersion } from '../datasets/checkout.js';
import { tagVersion } from '../datasets/tag.js';
import { CairnError } from '../core/errors.js';
import { allBlobs, listPacks } from '../meta/repos/chunks.js';
import { ingest } from '../storage/ingest/ingest.js';
import { BlobKind, type BlobKindCode } from '../storage/pack/format.js';
import { PackWriter } from '../storage/pack/writer.js';
import { mulberry32 } from '../test-support/prng.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, prng } from '../test-support/workspace.js';
import { runFsck } from './fsck.js';
import { runGc } from './gc.js';

const KiB = 1024;

/** path → sha256 of every file under `root`. */
function contents(root: string, rel = '', out: Record<string, string> = {}): Record<string, string> {
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    if (statSync(join(root, p)).isDirectory()) contents(root, p, out);
    else out[p] = sha(readFileSync(join(root, p)));
  }
  return out;
}

/** Every pack file on disk, and every row of the index, as text to compare. */
async function storeState(w: Workspace): Promise<string> {
  const rows = (await allBlobs(w.meta.db)).map((b) => `${b.id} ${b.pack_id} ${b.offset} ${b.length}`).sort();
  const packs = (await listPacks(w.meta.db)).map((p) => p.id);
  return JSON.stringify({ files: [...(await w.packs.list()).keys()].sort(), rows, packs });
}

/** One forged change to the index, as SQL access (or a crash) could make it; returns what it did. */
async function forge(w: Workspace, rng: () => number): Promise<string> {
  const db = w.meta.db;
  const rows = await allBlobs(db);
  const packs = (await listPacks(db)).map((p) => p.id);
  if (rows.length === 0) return 'forge:none';
  const row = rows[Math.floor(rng() * rows.length)]!;
  const kind = Math.floor(rng() * 5);
  if (kind === 0) {
    await db.deleteFrom('blobs').where('id', '=', row.id).execute();
    return `forge:delete-row:${row.id.slice(0, 8)}`;
  }
  if (kind === 1) {
    // The root trees: the rows that made a version look metadata-only.
    const roots = (await db.selectFrom('dataset_versions').select('digest').execute()).map((v) => v.digest);
    await db.deleteFrom('blobs').where('id', 'in', roots).execute();
    return 'forge:delete-root-rows';
  }
  if (kind === 2) {
    await db.deleteFrom('blobs').where('pack_id', '=', row.pack_id).execute();
    await db.deleteFrom('packs').where('id', '=', row.pack_id).execute();
    return `forge:unindex-pack:${row.pack_id.slice(0, 8)}`;
  }
  if (kind === 3) {
    const other = packs[Math.floor(rng() * packs.length)]!;
    await db.updateTable('blobs').set({ pack_id: other }).where('id', '=', row.id).execute();
    return `forge:repoint:${row.id.slice(0, 8)}`;
  }
  await db
    .updateTable('blobs')
    .set({ offset: Number(row.offset) + 1 })
    .where('id', '=', row.id)
    .execute();
  return `forge:offset:${row.id.slice(0, 8)}`;
}

/** gc after a forgery: it keeps every version whole, or refuses having changed nothing (then repair). */
async function gcAfterForgery(w: Workspace, where: string): Promise<'kept' | 'refused'> {
  const before = await storeState(w);
  try {
    await runGc(w);
    return 'kept';
  } catch (err) {
    expect(err instanceof CairnError ? err.code : err, where).toBe('INDEX_DAMAGED');
  }
  expect(await storeState(w), `${where}: a refused gc changed nothing`).toEqual(before);
  const repaired = await runFsck(w, { repair: true });
  expect(repaired.repaired, where).toBeDefined();
  expect(repaired.indexDamage, where).toEqual([]);
  await runGc(w);
  return 'refused';
}

const SEEDS = Array.from({ length: Number(process.env.CAIRN_GC_PROPERTY_SEEDS ?? 3) }, (_, i) => 0x5eed + i);
const STEPS = Number(process.env.CAIRN_GC_PROPERTY_STEPS ?? 24);

describe('gc property: random histories never lose a live version', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  for (const seed of SEEDS) {
    it(
      `seed ${seed.toString(16)}: after every gc every version checks out byte-identical and fsck is clean`,
      { timeout: 300_000 },
      async () => {
        const rng = mulberry32(seed);
        const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
        const dir = tmp();
        ws = await newWorkspace(dir);
        // Small packs: more of them, so gc has real choices (delete, repack, drop rows).
        ws.config.storage.pack_size_mib = 1;
        const w = ws;
        const expected = new Map<string, Record<string, string>>();
        const names = ['alpha', 'beta', 'gamma'];
        let fileSeed = seed * 1000;
        const srcOf = (name: string) => join(dir, 'src', name);

        /** Random edits: new small and multi-chunk files, rewrites, removals, a shared file. */
        const edit = (name: string) => {
          const root = srcOf(name);
          mkdirSync(root, { recursive: true });
          const have = existsSync(root) ? Object.keys(contents(root)) : [];
          if (have.length === 0) {
            // A dataset starts as one tiny file: its pack is mostly header and index (the
            // report's `cairn data add one-small-file.txt`).
            writeFileSync(join(root, 'first.txt'), prng(++fileSeed, 1 + Math.floor(rng() * 16)));
            return;
          }
          const n = 1 + Math.floor(rng() * (rng() < 0.5 ? 1 : 4));
          for (let i = 0; i < n; i++) {
            const op = have.length === 0 ? 'new' : pick(['new', 'new', 'rewrite', 'remove', 'shared']);
            // Tiny files matter: a pack of a few of them is mostly header and index.
            const r = rng();
            const size =
              r < 0.2
                ? 100 * KiB + Math.floor(rng() * 300 * KiB)
                : r < 0.6
                  ? 1 + Math.floor(rng() * 5000)
                  : 1 + Math.floor(rng() * 64);
            if (op === 'remove' && have.length > 1) {
              const p = pick(have);
              rmSync(join(root, p));
              have.splice(have.indexOf(p), 1);
              continue;
            }
            const p =
              op === 'rewrite'
                ? pick(have)
                : op === 'shared'
                  ? 'common/shared.bin'
                  : `${pick(['', 'd1/', 'd2/x/'])}f${fileSeed}.bin`;
            mkdirSync(dirname(join(root, p)), { recursive: true });
            writeFileSync(join(root, p), op === 'shared' ? prng(42, 70 * KiB) : prng(++fileSeed, size));
            if (!have.includes(p)) have.push(p);
          }
        };

        const everyVersionChecksOut = async (step: string) => {
          const f = await runFsck(w);
          expect(f, step).toMatchObject({
            ok: true,
            missingPacks: [],
            corruptPacks: [],
            corruptBlobs: [],
            misplacedBlobs: [],
            brokenVersions: [],
          });
          for (const [ref, want] of expected) {
            const out = join(dir, 'co', `${ref.replace(/[@/]/g, '-')}-${Math.floor(rng() * 1e9)}`);
            await checkoutVersion(w, { ref, dir: out, link: 'copy' });
            expect(contents(out), `${step}: ${ref}`).toEqual(want);
            rmSync(out, { recursive: true, force: true });
          }
        };

        const log: string[] = [];
        let gcs = 0;
        let repacked = 0;
        const forged = { kept: 0, refused: 0 };
        for (let step = 0; step < STEPS; step++) {
          // After a killed add, usually the retry: it adopts what the killed one left.
          const retry = log.at(-1)?.startsWith('killed-add') === true && rng() < 0.6;
          const op =
            step === 0 || retry
              ? 'add'
              : pick([
                  'add',
                  'add',
                  'add',
                  'tag',
                  'killed-add',
                  'killed-add',
                  'duplicate',
                  'gc',
                  'gc',
                  'forge',
                  'forge',
                ]);
          const name = retry ? log.at(-1)!.split(':')[1]! : pick(names);
          log.push(`${op}:${name}`);
          const where = `seed ${seed.toString(16)} step ${step} (${log.join(' ')})`;
          if (op === 'add') {
            edit(name);
            const r = await addVersion(w, { source: srcOf(name), name });
            if (!r.unchanged) expected.set(r.ref, contents(srcOf(name)));
          } else if (op === 'tag') {
            const refs = [...expected.keys()];
            if (refs.length) await tagVersion(w, pick(refs), `t${step}`, { force: true });
          } else if (op === 'killed-add') {
            // As a SIGKILL after sealing some packs would leave things: sealed packs no metadata
            // knows, and a dead writer's temp file. Their blobs mix content the next add keeps
            // (the edits) with content it never sees again (the doomed files, deleted meanwhile),
            // so once adopted, gc finds packs to repack and rows to drop.
            edit(name);
            const doomed = join(srcOf(name), `doomed-${step}`);
            for (let i = 0; i < 1 + Math.floor(rng() * 3); i++) {
              mkdirSync(doomed, { recursive: true });
              writeFileSync(join(doomed, `x${i}.bin`), prng(++fileSeed, 20 * KiB + Math.floor(rng() * 200 * KiB)));
            }
            await ingest(
              { packs: w.packs, index: w.index, pool: w.pool, packTarget: 64 * KiB },
              { source: srcOf(name), statCache: null },
            );
            rmSync(doomed, { recursive: true, force: true });
            mkdirSync(w.packs.tmpDir, { recursive: true });
            writeFileSync(
              join(w.packs.tmpDir, `999999-${step.toString(16).padStart(16, '0')}.pack.tmp`),
              prng(step, 3000),
            );
          } else if (op === 'duplicate') {
            // A second copy of some live blobs in a pack of their own, unrecorded (a concurrent
            // writer's duplicate, or a repack a crashed gc already wrote).
            const blobs = await allBlobs(w.meta.db);
            if (blobs.length) {
              const chosen = blobs.filter(() => rng() < 0.3).slice(0, 8);
              const pw = await PackWriter.create(w.packs);
              for (const b of chosen)
                pw.append(
                  (b.kind === BlobKind.tree ? BlobKind.tree : BlobKind.chunk) as BlobKindCode,
                  b.id,
                  await w.reader.read({
                    id: b.id,
                    packId: b.pack_id,
                    offset: Number(b.offset),
                    length: Number(b.length),
                  }),
                );
              if (chosen.length) await pw.finish();
              else await pw.abort();
            }
          } else if (op === 'forge') {
            log.push(await forge(w, rng));
            forged[await gcAfterForgery(w, where)]++;
            await everyVersionChecksOut(where);
          } else {
            const r = await runGc(w);
            gcs++;
            repacked += r.packsRepacked;
            await everyVersionChecksOut(where);
            expect((await runFsck(w)).orphanPacks, where).toEqual([]);
          }
        }
        await runGc(w);
        await everyVersionChecksOut(`seed ${seed.toString(16)} final (${log.join(' ')})`);
        expect(expected.size).toBeGreaterThan(3);
        if (process.env.CAIRN_TEST_VERBOSE)
          console.log(
            `seed ${seed.toString(16)}: ${expected.size} versions, ${gcs} gc, ${repacked} repacked, forged: ${forged.refused} refused, ${forged.kept} kept`,
          );
      },
    );
  }
});
