// The pure half of a namespaced job: what unshare is given. The namespaces themselves are
// exercised as root by test/server/job-isolation.test.ts.
import { describe, expect, it } from 'vitest';
import { namespacedJob } from './namespace.js';

const account = { uid: 1234, gid: 1234 };
const req = { command: 'echo hi', gracePeriodS: 2.5 };

describe('namespacedJob', () => {
  it("hands the root init only the system's PATH; the job's environment goes to the job on stdin, never as arguments", () => {
    const job = namespacedJob(
      req,
      account,
      { carry: [], hide: [] },
      { LD_PRELOAD: '/tmp/x.so', PATH: '/opt/bin', API_KEY: 'sk-secret' },
    );
    expect(job.env).toEqual({ PATH: expect.stringContaining('/usr/bin') });
    expect(job.input).toBe('LD_PRELOAD=/tmp/x.so\0PATH=/opt/bin\0API_KEY=sk-secret\0');
    // Arguments are readable by every account on the host (/proc/<pid>/cmdline) for the job's life.
    expect(job.args.join(' ')).not.toContain('sk-secret');
    // uid gid grace command ncarry nhide, after the init's name.
    const at = job.args.indexOf('cairn-job-init');
    expect(job.args.slice(at + 1, at + 7)).toEqual(['1234', '1234', '3', 'echo hi', '0', '0']);
  });

  it('carries only folders under /tmp or /dev/shm, each once, a folder inside another with it', () => {
    const job = namespacedJob(
      req,
      account,
      { carry: ['/srv/jobs', '/tmp/d/jobs', '/tmp/d/jobs/cache', '/tmp/d/jobs', '/dev/shm/c', '/tmp'], hide: [] },
      {},
    );
    const at = job.args.indexOf('cairn-job-init');
    expect(job.args.slice(at + 5, at + 9)).toEqual(['2', '0', '/dev/shm/c', '/tmp/d/jobs']);
  });

  it('refuses to hide a parent whose kept folder is not inside it', () => {
    expect(() =>
      namespacedJob(req, account, { carry: [], hide: [{ parent: '/srv/jobs/runs', keep: '/srv/jobs/runsx/a' }] }, {}),
    ).toThrow(/not inside/);
  });
});
