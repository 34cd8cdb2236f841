// How a team server decides who its jobs run as (app/job-user.ts). The uid and umask are inputs,
// so the decisions of a non-root server are checked here too; the real accounts are in
// test/server/job-user.test.ts.
import { chmodSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCairnError, type ErrorCode } from '../core/errors.js';
import { mulberry32 } from '../test-support/prng.js';
import { lookupAccount, serverJobs } from './job-user.js';

const base = { fresh: false, umask: 0o022 };
const dataDir = () => mkdtempSync(join(tmpdir(), 'cairn-jobuser-unit-'));
const fails = (fn: () => unknown, code: ErrorCode): { message: string; hint?: string } => {
  try {
    fn();
  } catch (err) {
    if (isCairnError(err, code)) return err as { message: string; hint?: string };
    throw err;
  }
  throw new Error(`expected ${code}`);
};

describe('serverJobs', () => {
  it('a root server without a job user refuses jobs, and names the fix; allowed, it runs them as itself', () => {
    const d = dataDir();
    const refused = serverJobs({ ...base, dataDir: d, uid: 0 });
    expect(refused.jobsRefused?.hint).toContain('--job-user');
    expect(serverJobs({ ...base, dataDir: d, uid: 0, allowRootJobs: true })).toEqual({});
  });

  it('a non-root server without a job user runs jobs as itself, as before', () => {
    expect(serverJobs({ ...base, dataDir: dataDir(), uid: 1000 })).toEqual({});
  });

  it('a non-root server cannot switch accounts: refused at start, not silently run as itself', () => {
    const e = fails(() => serverJobs({ ...base, dataDir: dataDir(), uid: 1000, jobUser: 'root' }), 'USAGE');
    expect(e.message).toContain('uid 1000');
  });

  it("naming the server's own account changes nothing", () => {
    expect(serverJobs({ ...base, dataDir: dataDir(), uid: 0, jobUser: 'root' })).toEqual({});
  });

  it('an unknown account, or a name that is not one, is refused', () => {
    fails(() => lookupAccount('no-such-cairn-account-zq'), 'NOT_FOUND');
    fails(() => lookupAccount('root:0:0'), 'USAGE');
    fails(() => lookupAccount('-x'), 'USAGE');
  });

  it('with a job user: a umask that hides written code from others is refused', (ctx) => {
    if (process.getuid?.() !== 0) return ctx.skip();
    const e = fails(
      () => serverJobs({ ...base, umask: 0o077, dataDir: dataDir(), uid: 0, jobUser: 'nobody' }),
      'CONFIG_INVALID',
    );
    expect(e.hint).toContain('umask 022');
  });

  it('with a job user: a folder store outside the data dir that others can read is refused too', (ctx) => {
    if (process.getuid?.() !== 0) return ctx.skip();
    const store = mkdtempSync(join(tmpdir(), 'cairn-jobuser-store-'));
    chmodSync(store, 0o755);
    const opts = { ...base, fresh: true, dataDir: dataDir(), uid: 0, jobUser: 'nobody', elsewhere: [store] };
    expect(fails(() => serverJobs(opts), 'CONFIG_INVALID').message).toContain(`${store} (mode 0755)`);
    chmodSync(store, 0o700);
    expect(serverJobs(opts).jobUser?.name).toBe('nobody');
  });

  it('with a job user: a fresh data dir is made private but for jobs/; a loose one is refused with the chmod', (ctx) => {
    if (process.getuid?.() !== 0) return ctx.skip();
    const d = dataDir();
    mkdirSync(join(d, '.cairn'), { mode: 0o755 });
    mkdirSync(join(d, 'store'), { mode: 0o755 });
    chmodSync(d, 0o755);
    const loose = fails(() => serverJobs({ ...base, dataDir: d, uid: 0, jobUser: 'nobody' }), 'CONFIG_INVALID');
    expect(loose.message).toContain(join(d, '.cairn'));
    expect(loose.message).toContain(join(d, 'store'));
    expect(loose.hint).toContain(`chmod 711 ${d}`);
    const jobs = serverJobs({ ...base, fresh: true, dataDir: d, uid: 0, jobUser: 'nobody' });
    expect(jobs.jobUser?.name).toBe('nobody');
    expect(jobs.jobsDir).toBe(join(d, 'jobs'));
    expect(statSync(d).mode & 0o777).toBe(0o711);
    expect(statSync(join(d, '.cairn')).mode & 0o777).toBe(0o700);
    expect(statSync(join(d, 'store')).mode & 0o777).toBe(0o700);
    for (const f of ['', 'runs', 'checkpoints', 'run-code', 'cache', 'cache/versions', 'cache/seals'])
      expect(statSync(join(d, 'jobs', f)).mode & 0o777).toBe(0o711);
  });

  it('property: over random data dir layouts, it starts only when nothing but jobs/ is open to the job account, and a fresh dir always ends so', (ctx) => {
    if (process.getuid?.() !== 0) return ctx.skip();
    const rnd = mulberry32(0x70b5);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
    const modes = [0o700, 0o711, 0o750, 0o755, 0o770, 0o777, 0o600, 0o640, 0o644] as const;
    for (let i = 0; i < 60; i++) {
      const d = dataDir();
      const entries = ['.cairn', 'store', 'meta.db', 'notes'].filter(() => rnd() < 0.7);
      for (const e of entries) {
        if (e.includes('.') && e !== '.cairn') writeFileSync(join(d, e), 'x');
        else mkdirSync(join(d, e));
        chmodSync(join(d, e), pick(modes));
      }
      chmodSync(d, pick([0o700, 0o711, 0o750, 0o755, 0o775]));
      const fresh = rnd() < 0.3;
      const open = (p: string) => statSync(p).mode & 0o077;
      const wasPrivate = (statSync(d).mode & 0o066) === 0 && entries.every((e) => open(join(d, e)) === 0);
      const o = { ...base, fresh, dataDir: d, uid: 0, jobUser: 'nobody' };
      let started: boolean;
      try {
        serverJobs(o);
        started = true;
      } catch (err) {
        if (!isCairnError(err, 'CONFIG_INVALID')) throw err;
        started = false;
      }
      expect(started, `layout ${i} (fresh ${fresh})`).toBe(fresh || wasPrivate);
      if (!started) continue;
      // Whatever it started on: the job account can pass through the data dir, and read only jobs/.
      expect(statSync(d).mode & 0o066).toBe(0);
      for (const e of entries) expect(open(join(d, e)), `${e} of layout ${i}`).toBe(0);
      expect(statSync(join(d, 'jobs')).mode & 0o777).toBe(0o711);
    }
  });
});
