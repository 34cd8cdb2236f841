import { describe, expect, it } from 'vitest';
import { collectErasureVouchers, type ErasureVouchers } from './vouch-erasures.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;
const entry = (index: number, workspace: string, over: Record<string, unknown>) =>
  JSON.stringify({ index, workspace, time: '2026-12-06T00:00:00Z', actor: { id: 'alice' }, outcome: 'ok', ...over });

describe('erasure vouchers', () => {
  it("count only the log's own ok events: an erase, or an erasure a pull imported", () => {
    const into: ErasureVouchers = new Map();
    collectErasureVouchers(into, { workspace: 'w1', origin: 'o1' }, [
      entry(0, 'w1', { action: 'dataset.erase', target: { digest: D('a') }, params: { reasonDigest: D('f') } }),
      // Refused (a hold), copied from another log, shifted, malformed: none vouches.
      entry(1, 'w1', { action: 'dataset.erase', outcome: 'denied', target: { digest: D('b') } }),
      entry(2, 'w2', { action: 'dataset.erase', target: { digest: D('c') } }),
      entry(9, 'w1', { action: 'dataset.erase', target: { digest: D('d') } }),
      entry(4, 'w1', { action: 'dataset.erase', target: { digest: 'sha256:xyz' } }),
      entry(5, 'w1', {
        action: 'remote.pull',
        params: { importedErasures: [{ digest: D('e'), erasedAt: '2026-12-01T00:00:00Z', erasedBy: 'bob' }, 7] },
      }),
    ]);
    expect([...into.keys()].sort()).toEqual([D('a'), D('e')]);
    expect(into.get(D('a'))).toEqual({
      digest: D('a'),
      erasedAt: '2026-12-06T00:00:00Z',
      erasedBy: 'alice',
      reasonDigest: D('f'),
      origin: 'o1',
      workspace: 'w1',
      index: 0,
    });
    // Passed on: the importing log's entry vouches, with the eraser's time and account.
    expect(into.get(D('e'))).toMatchObject({ erasedBy: 'bob', workspace: 'w1', index: 5, reasonDigest: null });
  });
});
