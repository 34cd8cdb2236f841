import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lockSlurmCluster, shareSlurmCluster, type SlurmFacts } from './slurm.js';

// The lock that keeps the Slurm tests that fail the one node away from those that only submit.
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function cluster(): SlurmFacts {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-slurm-lock-'));
  dirs.push(dir);
  return { dir } as SlurmFacts;
}
/** Whether `p` settles within `ms`. */
const settlesWithin = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('Slurm test cluster lock: shared submitters, exclusive node failures', () => {
  it('the exclusive holder waits for every sharer, and sharers wait for it', async () => {
    const f = cluster();
    const a = await shareSlurmCluster(f);
    const b = await shareSlurmCluster(f);
    const alone = lockSlurmCluster(f);
    expect(await settlesWithin(alone, 1200)).toBe(false);
    a();
    expect(await settlesWithin(alone, 1200)).toBe(false);
    b();
    const release = await alone;
    const later = shareSlurmCluster(f);
    expect(await settlesWithin(later, 1500)).toBe(false);
    release();
    (await later)();
  });

  it("a dead process's lock or share does not hold the cluster", async () => {
    const f = cluster();
    // pid 2^22 + 1 is above Linux's pid_max, so never a live process.
    const dead = String(2 ** 22 + 1);
    mkdirSync(join(f.dir, 'tests.shared'));
    writeFileSync(join(f.dir, 'tests.shared', `${dead}-x`), '');
    const release = await lockSlurmCluster(f, 5000);
    release();
    mkdirSync(join(f.dir, 'tests.lock'));
    writeFileSync(join(f.dir, 'tests.lock', 'pid'), dead);
    (await shareSlurmCluster(f, 5000))();
    (await lockSlurmCluster(f, 5000))();
  });

  it('gives up with a clear error when the holder never lets go', async () => {
    const f = cluster();
    const held = await lockSlurmCluster(f);
    await expect(shareSlurmCluster(f, 100)).rejects.toThrow(/held alone by pid \d+/);
    held();
  });
});
