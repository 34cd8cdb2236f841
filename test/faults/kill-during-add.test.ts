import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { showVersion } from '../../src/datasets/queries.js';
import { cli, cliSpawn } from '../../src/test-support/cli.js';
import { mulberry32 } from '../../src/test-support/prng.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, reopen } from '../../src/test-support/workspace.js';
import { sha256Hex as sha } from '../../src/core/digest.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * ~60 MB: four 12 MiB files (new bytes every round, so each add has real work to do), two of
 * 4 MiB and 40 small ones written once (deduplicated after round 0). `tree` tracks
 * path → sha256 of what the directory holds.
 */
function writeData(root: string, round: number, tree: Record<string, string>): void {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 4; i++) files[`big/part-${i}.bin`] = prng(1000 * round + i + 1, 12 * MiB);
  if (round === 0) {
    for (let i = 0; i < 2; i++) files[`mid/m-${i}.bin`] = prng(500 + i, 4 * MiB);
    for (let i = 0; i < 40; i++) files[`small/s-${String(i).padStart(2, '0')}.bin`] = prng(600 + i, 100 * KiB);
  }
  for (const [p, b] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), b);
    tree[p] = sha(b);
  }
}

interface FsckJson {
  ok: boolean;
  missingPacks: string[];
  corruptPacks: unknown[];
  corruptBlobs: unknown[];
  misplacedBlobs: unknown[];
  brokenVersions: unknown[];
  orphanPacks: string[];
  tempFiles: number;
}

describe('fault: SIGKILL at random points during data add', () => {
  const tmp = useTempDirs();

  it(
    'leaves a store that fsck passes, whose versions are all whole, and the next add succeeds',
    { timeout: 180_000 },
    async () => {
      const cwd = tmp();
      expect(cli(['init'], { cwd }).code).toBe(0);
      const data = join(cwd, 'data');
      // Every complete tree state the data directory has had: a version must equal one of them.
      const tree: Record<string, string> = {};
      const states: Array<Record<string, string>> = [];
      writeData(data, 0, tree);
      states.push({ ...tree });

      // An uninterrupted add gives the typical duration (process start included).
      const t0 = Date.now();
      const first = cli(['data', 'add', 'data', '--name', 'killed', '--json'], { cwd });
      const typical = Date.now() - t0;
      expect(first.code, first.stderr).toBe(0);

      const rng = mulberry32(0xca1e);
      const outcomes: string[] = [];
      for (let round = 1; round <= 8; round++) {
        writeData(data, round, tree);
        states.push({ ...tree });
        const delay = Math.round(20 + rng() * Math.max(1, typical - 20));
        const child = cliSpawn(['data', 'add', 'data', '--name', round % 3 === 0 ? 'other' : 'killed'], { cwd });
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), delay);
        const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
          child.on('exit', (c, s) => resolve({ code: c, signal: s })),
        );
        clearTimeout(timer);
        outcomes.push(signal ? `killed@${delay}ms` : `finished@${delay}ms`);
        if (!signal) expect(code, stderr).toBe(0);

        const fsck = cli(['fsck', '--json'], { cwd });
        expect(fsck.code, `round ${round} (${outcomes.join(', ')}): ${fsck.stdout}${fsck.stderr}`).toBe(0);
        const report = fsck.json as FsckJson;
        expect(report).toMatchObject({
          ok: true,
          missingPacks: [],
          corruptPacks: [],
          corruptBlobs: [],
          misplacedBlobs: [],
          brokenVersions: [],
        });
        outcomes[outcomes.length - 1] += ` (${report.orphanPacks.length} orphan packs, ${report.tempFiles} temp files)`;
      }
      if (process.env.CAIRN_TEST_VERBOSE) console.log(`typical ${typical} ms; ${outcomes.join(', ')}`);
      // The seed must give a mix: most rounds cut short, not all finished before the kill.
      expect(outcomes.filter((o) => o.startsWith('killed')).length, outcomes.join(', ')).toBeGreaterThanOrEqual(3);

      // Every pack the metadata knows exists with its recorded size, and every version is one
      // of the complete states the tree had (never a partial one).
      const ws = await reopen(cwd);
      try {
        const packs = await ws.meta.db.selectFrom('packs').select(['id', 'size']).execute();
        for (const p of packs) {
          const path = ws.packs.packPath(p.id);
          expect(existsSync(path), p.id).toBe(true);
          expect(statSync(path).size).toBe(Number(p.size));
        }
        const versions = await ws.meta.db
          .selectFrom('dataset_versions as v')
          .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
          .select(['d.name', 'v.number'])
          .execute();
        expect(versions.length).toBeGreaterThanOrEqual(1);
        const numbers = new Map<string, number[]>();
        for (const v of versions) {
          numbers.set(v.name, [...(numbers.get(v.name) ?? []), Number(v.number)]);
          const shown = await showVersion(ws, `${v.name}@v${v.number}`);
          const listing = Object.fromEntries(shown.listing.map((f) => [f.path, f.digest!.slice(7)]));
          expect(
            states.some(
              (s) => JSON.stringify(Object.entries(s).sort()) === JSON.stringify(Object.entries(listing).sort()),
            ),
            `${v.name}@v${v.number} is a partial tree`,
          ).toBe(true);
        }
        for (const [name, ns] of numbers)
          expect(
            ns.sort((a, b) => a - b),
            name,
          ).toEqual(ns.map((_, i) => i + 1));
      } finally {
        await ws.close();
      }

      // The next add succeeds and records exactly the current tree.
      const next = cli(['data', 'add', 'data', '--name', 'killed', '--json'], { cwd });
      expect(next.code, next.stderr).toBe(0);
      const ref = (next.json as { ref: string }).ref;
      const shown = cli(['data', 'show', ref, '--all', '--json'], { cwd }).json as {
        listing: Array<{ path: string; digest: string }>;
      };
      expect(Object.fromEntries(shown.listing.map((f) => [f.path, f.digest.slice(7)]))).toEqual(tree);

      const verify = cli(['audit', 'verify', '--json'], { cwd });
      expect(verify.code, verify.stdout).toBe(0);
      expect(verify.json).toMatchObject({ ok: true });

      // gc clears what the killed writers left (orphan packs, temp files); the store stays whole.
      expect(cli(['gc'], { cwd }).code).toBe(0);
      const after = cli(['fsck', '--json'], { cwd });
      expect(after.code).toBe(0);
      expect(after.json as FsckJson).toMatchObject({ ok: true, orphanPacks: [], tempFiles: 0, brokenVersions: [] });
      const out = join(cwd, 'out');
      expect(cli(['data', 'checkout', ref, out], { cwd }).code).toBe(0);
      for (const [p, d] of Object.entries(tree)) expect(sha(readFileSync(join(out, p))), p).toBe(d);
    },
  );
});
