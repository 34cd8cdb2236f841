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
      packs: [{ id: 'dead', size: 1000 }, { id: 'hollow', size: 72 }, { id: 'live', size: 100 }],
      blobs: [blob('x', 'dead', 500), blob('y', 'dead', 400), blob('z', 'live', 80)],
      reachable: new Set(['z', 'unrelated']),
      onDisk: new Map([['dead', 1000], ['hollow', 72], ['live', 100]]),
    });
    expect(plan).toEqual({ ...EMPTY, deletePacks: [{ id: 'dead', size: 1000 }, { id: 'hollow', size: 72 }], bytesFreed: 1072 });
  });

  it('repacks a pack whose live bytes fall below the threshold, copying only live blobs', () => {
    const rows = [blob('live1', 'p', 100), blob('dead1', 'p', 600), blob('live2', 'p', 50), blob('dead2', 'p', 200)];
    const plan = planGc({ packs: [{ id: 'p', size: 1000 }], blobs: rows, reachable: new Set(['live1', 'live2']), onDisk: new Map([['p', 1000]]) });
    expect(plan).toEqual({ ...EMPTY, repackPacks: [{ id: 'p', size: 1000, live: [rows[0], rows[2]] }], bytesFreed: 850, bytesCopied: 150 });
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

  it('repacks strictly below the threshold, which is configurable', () => {
    const input = (liveBytes: number) => ({
      packs: [{ id: 'p', size: 1000 }],
      blobs: [blob('live', 'p', liveBytes), blob('dead', 'p', 1000 - liveBytes - 16)],
      reachable: new Set(['live']),
      onDisk: new Map([['p', 1000]]),
    });
    expect(planGc(input(499)).repackPacks.map((p) => p.id)).toEqual(['p']);
    expect(planGc(input(500)).repackPacks).toEqual([]);
    expect(planGc(input(500)).dropBlobs).toEqual(['dead']);
    expect(planGc({ ...input(800), repackBelow: 0.9 }).repackPacks.map((p) => p.id)).toEqual(['p']);
    // 0 turns repacking off: even a nearly dead pack is kept, with its dead rows dropped.
    expect(planGc({ ...input(1), repackBelow: 0 })).toEqual({ ...EMPTY, dropBlobs: ['dead'] });
  });

  it('finds orphan pack files that no metadata knows and counts their bytes', () => {
    const plan = planGc({
      packs: [{ id: 'known', size: 100 }],
      blobs: [blob('a', 'known', 90)],
      reachable: new Set(['a']),
      onDisk: new Map([['known', 100], ['orphan1', 5000], ['orphan2', 7]]),
    });
    expect(plan).toEqual({ ...EMPTY, orphanPacks: [{ id: 'orphan1', size: 5000 }, { id: 'orphan2', size: 7 }], bytesFreed: 5007 });
  });

  it('combines every kind of work in one plan', () => {
    const plan = planGc({
      packs: [{ id: 'dead', size: 300 }, { id: 'sparse', size: 1000 }, { id: 'dense', size: 1000 }],
      blobs: [blob('d1', 'dead', 200), blob('s-live', 'sparse', 100), blob('s-dead', 'sparse', 800), blob('k-live', 'dense', 900), blob('k-dead', 'dense', 50)],
      reachable: new Set(['s-live', 'k-live']),
      onDisk: new Map([['dead', 300], ['sparse', 1000], ['dense', 1000], ['crashed', 40]]),
    });
    expect(plan.deletePacks).toEqual([{ id: 'dead', size: 300 }]);
    expect(plan.repackPacks.map((p) => [p.id, p.live.map((b) => b.id)])).toEqual([['sparse', ['s-live']]]);
    expect(plan.dropBlobs).toEqual(['k-dead']);
    expect(plan.orphanPacks).toEqual([{ id: 'crashed', size: 40 }]);
    expect(plan.bytesFreed).toBe(300 + 900 + 40);
    expect(plan.bytesCopied).toBe(100);
  });
});
