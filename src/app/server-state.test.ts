import { describe, expect, it } from 'vitest';
import { emptyState, type RemoteState } from '../transfer/index.js';
import { buildStoreState, candidateState, type RecordedRows } from './server-state.js';
import { mulberry32 } from '../test-support/prng.js';

const hex = (n: number) => n.toString(16).padStart(64, '0');
const T = '2026-01-01T00:00:00.000Z';

function version(ds: number, number: number, digest: number) {
  return {
    id: `v${ds}-${number}-${digest}`,
    dataset_id: `d${ds}`,
    number,
    digest: hex(digest),
    parent_id: null,
    author: 'a',
    created_at: T,
    message: null,
    stats: '{}',
  } as unknown as RemoteState['versions'][number] & { packs: string[] };
}

/** A small deterministic PRNG (mulberry32): a failing history is replayed from its seed. */

/** A random history: versions the server recorded, some listed before, some proposed, some made up. */
function randomHistory(seed: number) {
  const r = mulberry32(seed);
  const int = (n: number) => Math.floor(r() * n);
  const list = <T>(max: number, f: () => T) => Array.from({ length: int(max + 1) }, f);
  const seen = new Set<string>();
  const recorded = list(12, () => [int(4), 1 + int(4), int(21)] as const).filter(([d, n]) => {
    const k = `${d}@${n}`;
    return !seen.has(k) && !!seen.add(k);
  });
  return {
    recorded,
    listedBefore: list(12, () => int(12)),
    proposed: list(12, () => int(12)),
    madeUp: list(6, () => [int(6), 1 + int(6), int(41)] as const),
    packs: list(3, () => int(6)),
    tags: list(6, () => [int(12), r() < 0.5 ? 'prod' : 'dev'] as const),
    // One entry per workspace, as a state and a pull's verified logs have.
    verified: [...new Map(list(4, () => [`w${1 + int(3)}`, int(51)] as const)).entries()],
    before: [...new Map(list(4, () => [`w${1 + int(3)}`, int(51)] as const)).entries()],
  };
}

describe('the store state a team server writes', () => {
  it('lists only versions the server recorded, as recorded, with the pack lists it listed first', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const h = randomHistory(seed);
      {
        const recordedVersions = h.recorded.map(([d, n, g]) => version(d, n, g));
        const recorded: RecordedRows = {
          datasets: [0, 1, 2, 3].map((d) => ({ id: `d${d}`, name: `ds${d}`, created_at: T, created_by: 'a' }) as never),
          versions: recordedVersions.map(({ packs: _p, ...v }) => v),
          tags: h.tags
            .filter(([i]) => i < recordedVersions.length)
            .map(([i, tag]) => ({
              dataset_id: recordedVersions[i]!.dataset_id,
              tag,
              version_id: recordedVersions[i]!.id,
              created_at: T,
              created_by: 'a',
            })),
          lineage: [],
          reports: [],
          documents: [],
          models: [],
          modelVersions: [],
        };
        const pick = (ix: number[], packs: string[]) =>
          ix.filter((i) => i < recordedVersions.length).map((i) => ({ ...recordedVersions[i]!, packs }));
        const previous = emptyState();
        previous.versions = pick(h.listedBefore, ['aa'.repeat(32)]);
        previous.audit = h.before.map(([w, size]) => ({
          workspace: w,
          origin: 'o',
          size,
          root: 'r',
          key: `audit/${w}/`,
        }));
        const candidate = emptyState();
        candidate.versions = [
          ...pick(h.proposed, h.packs.map(hex)),
          // Made up: same ids with other digests, or versions nobody recorded.
          ...h.madeUp.map(([d, n, g]) => ({ ...version(d, n, g + 1000), packs: [] })),
          ...h.madeUp.map(([d, n, g]) => ({ ...version(d, n, g), digest: hex(g + 5000), packs: [] })),
        ];
        const verified = h.verified.map(([w, size]) => ({ workspace: w, origin: `o-${w}`, size, root: `r${size}` }));
        const next = buildStoreState({ previous, candidate, recorded, verified, storePacks: new Map() });

        const rows = new Map(recorded.versions.map((v) => [v.id, v]));
        const listedIds = new Set(previous.versions.map((v) => v.id));
        for (const v of next.versions) {
          const { packs, ...row } = v;
          expect(row).toEqual(rows.get(v.id));
          if (listedIds.has(v.id)) expect(packs).toEqual(['aa'.repeat(32)]);
        }
        const expected = new Set([...previous.versions, ...pick(h.proposed, [])].map((v) => v.id));
        expect(new Set(next.versions.map((v) => v.id))).toEqual(expected);
        const ids = new Set(next.versions.map((v) => v.id));
        expect(next.datasets.map((d) => d.id).sort()).toEqual(
          [...new Set(next.versions.map((v) => v.dataset_id))].sort(),
        );
        for (const t of next.tags) expect(ids.has(t.version_id)).toBe(true);
        // Audit entries never go back, and each verified log is there at least as far as verified.
        for (const a of previous.audit)
          expect(next.audit.find((x) => x.workspace === a.workspace)!.size).toBeGreaterThanOrEqual(a.size);
        for (const l of verified)
          expect(next.audit.find((x) => x.workspace === l.workspace)!.size).toBeGreaterThanOrEqual(l.size);
        expect(new Set(next.audit.map((a) => a.workspace)).size, `seed ${seed}`).toBe(next.audit.length);
      }
    }
  });
});

describe('what an import reads from a proposal', () => {
  const server = (): RemoteState => ({
    ...emptyState(),
    datasets: [{ id: 'd0', name: 'ds0', created_at: T, created_by: 'a' } as never],
    versions: [{ ...version(0, 1, 1), packs: [hex(9)] }],
    tags: [{ dataset_id: 'd0', tag: 'prod', version_id: version(0, 1, 1).id, created_at: T, created_by: 'a' }],
    audit: [{ workspace: 'w1', origin: 'o', size: 10, root: 'r', key: 'audit/w1/' }],
  });

  it("refuses moving another account's audit entry, or one's own to another key", () => {
    const own = (w: string) => w === 'w2';
    for (const audit of [
      [{ workspace: 'w1', origin: 'o', size: 11, root: 'x', key: 'audit/w1/' }],
      [{ workspace: 'w2', origin: 'o', size: 3, root: 'x', key: 'audit/w1/' }],
      [{ workspace: 'w3', origin: 'o', size: 1, root: 'x', key: 'audit/w3/' }],
    ])
      expect(() => candidateState(server(), { ...server(), audit }, own)).toThrow(
        expect.objectContaining({ code: 'PERMISSION_DENIED' }),
      );
    const ok = candidateState(
      server(),
      { ...server(), audit: [{ workspace: 'w2', origin: 'o', size: 3, root: 'x', key: 'audit/w2/' }] },
      own,
    );
    expect(ok.audit.map((a) => a.workspace)).toEqual(['w1', 'w2']);
  });

  it('keeps what the server lists: its pack lists and tags; a squat of a listed name conflicts', () => {
    const s = server();
    const v = s.versions[0]!;
    const c = candidateState(
      s,
      {
        ...s,
        versions: [{ ...v, packs: [hex(7)] }],
        tags: [{ dataset_id: 'd0', tag: 'prod', version_id: 'elsewhere', created_at: '2099-01-01', created_by: 'm' }],
      },
      () => true,
    );
    expect(c.versions[0]!.packs).toEqual([hex(9)]);
    expect(c.tags).toEqual(s.tags);
    expect(() =>
      candidateState(
        s,
        { ...emptyState(), datasets: [{ id: 'dX', name: 'ds0', created_at: T, created_by: 'm' } as never] },
        () => true,
      ),
    ).toThrow(expect.objectContaining({ code: 'DIVERGED' }));
  });
});
