/* eslint-disable @typescript-eslint/no-explicit-any -- service answers are checked field by field */
// An erased version's record reaches the team server by a push (the server's own erasure purges
// its workspace store, not the store clients push to: docs/COMPLIANCE.md). The server lists it
// without data because the pushed log vouches for the erasure; a teammate's pull takes it as
// erased, with that voucher, and checks out the rest. Real server (SQLite), real HTTP.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/core/errors.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';
import { newLaptop, startTeam, teamPerDatabase, type Team } from './harness.js';

const ROLES = { admin: 'admin', alice: 'contributor', dana: 'viewer' } as const;

describe('an erased version pushed to the team server', () => {
  let t: Team;
  teamPerDatabase(
    false,
    false,
    () => startTeam({ roles: ROLES }),
    (team) => (t = team),
    60_000,
  );

  it('is listed without data, vouched by the pushed log, and a teammate pulls it as erased', async () => {
    const alice = await newLaptop(t, 'alice', 'cairn-ep');
    for (let i = 1; i <= 2; i++) {
      writeTree(join(alice.dir, 'mail'), { [`f${i}.bin`]: prng(i, 4_000 + i * 500) });
      await alice.run((s) => s.datasets.add({ source: join(alice.dir, 'mail'), name: 'zzmail' }));
    }
    const erased: any = await alice.run((s) =>
      s.compliance.erase('zzmail@v1', { reason: 'Art. 17 #11', localOnly: true }),
    );
    const pushed: any = await alice.run((s) => s.transfer.push([], { remote: 'team' }));
    expect(pushed.server.imported.versions).toBe(2);

    const dana = await newLaptop(t, 'dana', 'cairn-ep');
    const pulled: any = await dana.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect(pulled.erased).toMatchObject([
      { dataset: 'zzmail', number: 1, digest: erased.digest, erasedBy: 'alice@laptop' },
    ]);
    expect(pulled.withoutData).toEqual([]);
    const why = await dana
      .run((s) => s.datasets.checkout({ ref: 'zzmail@v1', dir: join(dana.dir, 'co-1') }))
      .catch((err: unknown) => (isCairnError(err) ? err.code : String(err)));
    expect(why).toBe('ERASED');
    await dana.run((s) => s.datasets.checkout({ ref: 'zzmail@v2', dir: join(dana.dir, 'co-2') }));
    // Pulling again changes nothing: the erasure is recorded here already.
    const again: any = await dana.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect([again.erased, again.packs.fetched]).toEqual([[], 0]);
  }, 120_000);
});
