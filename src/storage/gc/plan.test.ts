import { describe, expect, it } from 'vitest';
import type { BlobRow } from '../../meta/repos/chunks.js';
import { planGc } from './plan.js';

function blob(id: string, pack: string, length: number): BlobRow {
  return { id, pack_id: pack, offset: 16, length, kind: 1 };
}

const EMPTY = { deletePacks: [], repackPacks: [], dropBlobs: [], orphanPacks: [], bytesFreed: 0, bytesCopied: 0 };

describe('planGc', () => {
  it('does nothing when every blob is reachable and every file is known', () => {
    const plan = planGc({
      packs: [{ id: 'p1', size: 1000 }],
      blobs: [blob('a', 'p1', 400), blob('b', 'p1', 500)],
      reachable: new Set(['a', 'b']),
      onDisk: new Map([['p1', 1000]]),
    });
    expect(plan).toEqual(EMPTY);
  });

  it('deletes packs with no live blob, including packs with no blob rows at all', () => {
    const plan = planGc({
      packs: [
        { id: 'dead', size: 1000 },
        { id: 'hollow', size: 72 },
        { id: 'live', size: 100 },
      ],
      blobs: [blob('x', 'dead', 500), blob('y', 'dead', 400), blob('z', 'live', 80)],
      reachable: new Set(['z', 'unrelated']),
      onDisk: new Map([
        ['dead', 1000],
        ['hollow', 72],
        ['live', 100],
      ]),
    });
    expect(plan).toEqual({
      ...EMPTY,
      deletePacks: [
        { id: 'dead', size: 1000 },
        { id: 'hollow', size: 72 },
      ],
      bytesFreed: 1072,
    });
  });

  it('repacks a pack whose live bytes fall below the threshold, copying only live blobs', () => {
    const rows = [blob('live1', 'p', 100), blob('dead1', 'p', 600), blob('live2', 'p', 50), blob('dead2', 'p', 200)];
    const plan = planGc({
      packs: [{ id: 'p', size: 1000 }],
      blobs: rows,
      reachable: new Set(['live1', 'live2']),
      onDisk: new Map([['p', 1000]]),
    });
    expect(plan).toEqual({
      ...EMPTY,
      repackPacks: [{ id: 'p', size: 1000, live: [rows[0], rows[2]] }],
      bytesFreed: 850,
      bytesCopied: 150,
    });
  });

  it('keeps a mostly live pack and only drops the index rows of its dead blobs', () => {
    const plan = planGc({
      packs: [{ id: 'p', size: 1000 }],
      blobs: [blob('live', 'p', 800), blob('dead1', 'p', 100), blob('dead2', 'p', 50)],
      reachable: new Set(['live']),
      onDisk: new Map([['p', 1000]]),
    });
    expect(plan).toEqual({ ...EMPTY, dropBlobs: ['dead1', 'dead2'] });
  });

  it('with purge (erasure), rewrites a mostly live pack so its dead bytes leave the disk; all-live packs stay', () => {
    const plan = planGc({
      packs: [
        { id: 'p', size: 1000 },
        { id: 'q', size: 500 },
      ],
      blobs: [blob('live', 'p', 800), blob('dead1', 'p', 100), blob('other', 'q', 400)],
      reachable: new Set(['live', 'other']),
      onDisk: new Map([
        ['p', 1000],
        ['q', 500],
      ]),
      purge: true,
    });
    expect(plan.dropBlobs).toEqual([]);
    expect(plan.repackPacks).toEqual([{ id: 'p', size: 1000, live: [blob('live', 'p', 800)] }]);
    expect(plan.deletePacks).toEqual([]);
  });

  it('repacks strictly below the threshold of data bytes, which is configurable', () => {
    // 1000 bytes of blob data in a pack whose header, index and footer add 184 more: the
    // threshold is judged on the data alone.
    const input = (liveBytes: number) => ({
      packs: [{ id: 'p', size: 1184 }],
      blobs: [blob('live', 'p', liveBytes), blob('dead', 'p', 1000 - liveBytes)],
      reachable: new Set(['live']),
      onDisk: new Map([['p', 1184]]),
    });
    expect(planGc(input(499)).repackPacks.map((p) => p.id)).toEqual(['p']);
    expect(planGc(input(500)).repackPacks).toEqual([]);
    expect(planGc(input(500)).dropBlobs).toEqual(['dead']);
    expect(planGc({ ...input(800), repackBelow: 0.9 }).repackPacks.map((p) => p.id)).toEqual(['p']);
    // 0 turns repacking off: even a nearly dead pack is kept, with its dead rows dropped.
    expect(planGc({ ...input(1), repackBelow: 0 })).toEqual({ ...EMPTY, dropBlobs: ['dead'] });
  });

  it('never repacks a pack whose blobs are all live, however small its data next to its overhead', () => {
    // One 6-byte file and its tree: 156 bytes of pack, 80 of them data (issue 10, item 1).
    const plan = planGc({
      packs: [{ id: 'small', size: 156 }],
      blobs: [blob('chunk', 'small', 6), blob('tree', 'small', 74)],
      reachable: new Set(['chunk', 'tree']),
      onDisk: new Map([['small', 156]]),
    });
    expect(plan).toEqual(EMPTY);
    // Even with a threshold that would make any pack qualify.
    expect(
      planGc({
        packs: [{ id: 'small', size: 156 }],
        blobs: [blob('chunk', 'small', 6)],
        reachable: new Set(['chunk']),
        onDisk: new Map([['small', 156]]),
        repackBelow: 1,
      }),
    ).toEqual(EMPTY);
  });

  it('judges "mostly garbage" on blob bytes, not on the header and index of many small blobs', () => {
    // 200 live blobs of 10 bytes and one dead one of 100: the index alone (48 bytes a blob)
    // dwarfs the data, yet 95 % of the data is live, so the pack stays and only the dead row goes.
    const rows = [...Array.from({ length: 200 }, (_, i) => blob(`l${i}`, 'p', 10)), blob('dead', 'p', 100)];
    const size = 16 + 2100 + 16 + 48 * rows.length + 56;
    const plan = planGc({
      packs: [{ id: 'p', size }],
      blobs: rows,
      reachable: new Set(rows.slice(0, 200).map((r) => r.id)),
      onDisk: new Map([['p', size]]),
    });
    expect(plan).toEqual({ ...EMPTY, dropBlobs: ['dead'] });
  });

  it('finds orphan pack files that no metadata knows and counts their bytes', () => {
    const plan = planGc({
      packs: [{ id: 'known', size: 100 }],
      blobs: [blob('a', 'known', 90)],
      reachable: new Set(['a']),
      onDisk: new Map([
        ['known', 100],
        ['orphan1', 5000],
        ['orphan2', 7],
      ]),
    });
    expect(plan).toEqual({
      ...EMPTY,
      orphanPacks: [
        { id: 'orphan1', size: 5000 },
        { id: 'orphan2', size: 7 },
      ],
      bytesFreed: 5007,
    });
  });

  it('combines every kind of work in one plan', () => {
    const plan = planGc({
      packs: [
        { id: 'dead', size: 300 },
        { id: 'sparse', size: 1000 },
        { id: 'dense', size: 1000 },
      ],
      blobs: [
        blob('d1', 'dead', 200),
        blob('s-live', 'sparse', 100),
        blob('s-dead', 'sparse', 800),
        blob('k-live', 'dense', 900),
        blob('k-dead', 'dense', 50),
      ],
      reachable: new Set(['s-live', 'k-live']),
      onDisk: new Map([
        ['dead', 300],
        ['sparse', 1000],
        ['dense', 1000],
        ['crashed', 40],
      ]),
    });
    expect(plan.deletePacks).toEqual([{ id: 'dead', size: 300 }]);
    expect(plan.repackPacks.map((p) => [p.id, p.live.map((b) => b.id)])).toEqual([['sparse', ['s-live']]]);
    expect(plan.dropBlobs).toEqual(['k-dead']);
    expect(plan.orphanPacks).toEqual([{ id: 'crashed', size: 40 }]);
    expect(plan.bytesFreed).toBe(300 + 900 + 40);
    expect(plan.bytesCopied).toBe(100);
  });
});
