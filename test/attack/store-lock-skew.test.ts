// Several server processes on one PostgreSQL database take turns by lease rows (store_locks). They
// run on several hosts, whose clocks differ: a host whose clock is behind by more than the lease
// wrote leases that the others read as long expired, so both held the import (or a pack's commit,
// a proposal, a workspace's claim) at once. The lease must be measured on one clock: the database's.
// The skewed host is a real process (the built CLI's modules) whose Date.now() runs a minute behind.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { leaseLocks, processLease } from '../../src/app/store-locks.js';
import { openMetaStore } from '../../src/meta/open.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../src/test-support/services.js';

const pg = await postgresAvailable();
if (!pg && process.env.CAIRN_REQUIRE_SERVICES === '1')
  throw new Error('PostgreSQL is required (CAIRN_REQUIRE_SERVICES=1)');
if (!pg) console.warn('store-lock-skew.test: PostgreSQL not reachable, skipped');
const schemas: string[] = [];
afterAll(async () => {
  for (const s of schemas) await dropSchema(s).catch(() => {});
});

const dist = join(process.cwd(), 'dist');

/** A process on a host whose clock is `skewMs` behind: it holds `name` until released, saying when it has it. */
function skewedHolder(url: string, name: string, skewMs: number) {
  const script = `
    const real = Date.now.bind(Date);
    Date.now = () => real() - ${skewMs};
    const { openMetaStore } = await import(${JSON.stringify(join(dist, 'meta/open.js'))});
    const { leaseLocks } = await import(${JSON.stringify(join(dist, 'app/store-locks.js'))});
    const meta = await openMetaStore(${JSON.stringify(url)});
    await leaseLocks(meta.db).run(${JSON.stringify(name)}, async () => {
      process.stdout.write('held\\n');
      await new Promise((r) => process.stdin.once('data', r));
    });
    await meta.close();
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const held = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
    child.once('exit', (code) => reject(new Error(`the skewed holder exited ${code}: ${err}`)));
  });
  const done = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const release = () => child.stdin.end('go\n');
  return { held, done, release };
}

describe.skipIf(!pg)('attack: server hosts with skewed clocks share the store locks', () => {
  it('a host whose clock is a minute behind still excludes the others while it holds a lock', async () => {
    expect(existsSync(join(dist, 'app/store-locks.js')), 'npm run build first').toBe(true);
    const { url, schema } = freshPgUrl();
    schemas.push(schema);
    const meta = await openMetaStore(url);
    try {
      const other = skewedHolder(url, 'import', 60_000);
      await other.held;
      // This host's clock is right: while the other holds the lock, it must not get it.
      let got = false;
      await expect(
        leaseLocks(meta.db, { waitMs: 1_500 }).run('import', async () => {
          got = true;
        }),
      ).rejects.toMatchObject({ code: 'SERVER_UNAVAILABLE' });
      expect(got).toBe(false);
      other.release();
      expect(await other.done).toBe(0);
      // Released: it is free at once.
      await leaseLocks(meta.db, { waitMs: 1_500 }).run('import', async () => {
        got = true;
      });
      expect(got).toBe(true);
    } finally {
      await meta.close();
    }
  }, 60_000);

  it('a server process on a host a minute behind is alive to the others while it renews (its idempotency claims are not taken over)', async () => {
    const { url, schema } = freshPgUrl();
    schemas.push(schema);
    const meta = await openMetaStore(url);
    const script = `
      const real = Date.now.bind(Date);
      Date.now = () => real() - 60000;
      const { openMetaStore } = await import(${JSON.stringify(join(dist, 'meta/open.js'))});
      const { processLease } = await import(${JSON.stringify(join(dist, 'app/store-locks.js'))});
      const meta = await openMetaStore(${JSON.stringify(url)});
      const me = await processLease(meta.db);
      process.stdout.write('id ' + me.id + '\\n');
      await new Promise((r) => process.stdin.once('data', r));
      await me.close();
      await meta.close();
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      const id = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /id (\S+)\n/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`the skewed process exited ${code}`)));
      });
      const me = await processLease(meta.db);
      expect(await me.alive(id)).toBe(true);
      // What a client waiting on its claim is told: about a lease (15 s), not a minute off either way.
      const left = await me.leaseLeftMs(id);
      expect(left).toBeGreaterThan(5_000);
      expect(left).toBeLessThanOrEqual(15_000);
      await me.close();
    } finally {
      child.stdin.end('go\n');
      await new Promise((r) => child.once('exit', r));
      await meta.close();
    }
  }, 60_000);
});
