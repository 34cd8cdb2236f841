import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CairnError } from '../../core/errors.js';
import { useTempDirs } from '../../test-support/temp.js';
import { acquireExclusive, acquireShared } from './locks.js';

function refusal(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('the lock was granted');
}

/** A pid that existed a moment ago and is now certainly dead (its process was reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  expect(r.status).toBe(0);
  return r.pid!;
}

function lockInfo(pid: number, command: string, host = hostname()): string {
  return JSON.stringify({ pid, host, started: '2026-01-01T00:00:00.000Z', command });
}

describe('store locks', () => {
  const tmp = useTempDirs();
  const children: ChildProcess[] = [];

  afterEach(() => {
    for (const c of children.splice(0)) c.kill();
  });

  /** Another live process on this host, to stand in for a concurrent cairn command. */
  function liveOtherPid(): number {
    const c = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    children.push(c);
    return c.pid!;
  }

  it('lets shared locks coexist and removes each one on release', () => {
    const dir = join(tmp(), 'locks');
    const a = acquireShared(dir, 'data add a', 0);
    const b = acquireShared(dir, 'data add b', 0);
    expect(readdirSync(dir).filter((n) => n.startsWith('shared-'))).toHaveLength(2);
    a.release();
    expect(readdirSync(dir)).toHaveLength(1);
    b.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses the exclusive lock while a live process holds a shared one, naming it', () => {
    const dir = tmp();
    const pid = liveOtherPid();
    writeFileSync(join(dir, `shared-${pid}-abcd.lock`), lockInfo(pid, 'cairn data add big'));
    const err = refusal(() => acquireExclusive(dir, 'store gc'));
    expect(err.code).toBe('LOCKED');
    expect(err.data).toEqual({
      pid,
      host: hostname(),
      started: '2026-01-01T00:00:00.000Z',
      command: 'cairn data add big',
    });
    expect(err.message).toContain('cairn data add big');
    expect(err.message).toContain(`pid ${pid}`);
    // The refused exclusive lock is not left behind to block writers.
    expect(existsSync(join(dir, 'exclusive.lock'))).toBe(false);
  });

  it('refuses the exclusive lock while this process holds a shared one', () => {
    const dir = tmp();
    const shared = acquireShared(dir, 'data add', 0);
    const err = refusal(() => acquireExclusive(dir, 'store gc'));
    expect(err.code).toBe('LOCKED');
    expect(err.data).toMatchObject({ pid: process.pid, command: 'data add' });
    shared.release();
    acquireExclusive(dir, 'store gc').release();
  });

  it('refuses a shared lock while the exclusive one is held, after waiting, and cleans up its own file', () => {
    const dir = tmp();
    const gc = acquireExclusive(dir, 'store gc');
    const err = refusal(() => acquireShared(dir, 'data add', 0));
    expect(err.code).toBe('LOCKED');
    expect(err.data).toMatchObject({ pid: process.pid, host: hostname(), command: 'store gc' });
    expect(readdirSync(dir)).toEqual(['exclusive.lock']);
    gc.release();
    expect(readdirSync(dir)).toEqual([]);
    acquireShared(dir, 'data add', 0).release();
  });

  it('grants the exclusive lock to one holder at a time', () => {
    const dir = tmp();
    const first = acquireExclusive(dir, 'store gc');
    const err = refusal(() => acquireExclusive(dir, 'store gc --again'));
    expect(err.data).toMatchObject({ command: 'store gc' });
    first.release();
    acquireExclusive(dir, 'store gc --again').release();
  });

  it('removes stale locks of dead processes on this host and proceeds', () => {
    const dir = tmp();
    const dead = deadPid();
    writeFileSync(join(dir, 'exclusive.lock'), lockInfo(dead, 'crashed gc'));
    const shared = acquireShared(dir, 'data add', 0);
    expect(existsSync(join(dir, 'exclusive.lock'))).toBe(false);
    shared.release();

    writeFileSync(join(dir, `shared-${dead}-0000.lock`), lockInfo(dead, 'crashed add'));
    const gc = acquireExclusive(dir, 'store gc');
    expect(readdirSync(dir)).toEqual(['exclusive.lock']);
    gc.release();

    writeFileSync(join(dir, 'exclusive.lock'), lockInfo(dead, 'crashed gc'));
    acquireExclusive(dir, 'store gc').release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('keeps locks from another host, whose processes it cannot check', () => {
    const dir = tmp();
    const dead = deadPid();
    writeFileSync(join(dir, 'exclusive.lock'), lockInfo(dead, 'gc elsewhere', 'some-other-host.example'));
    const err = refusal(() => acquireShared(dir, 'data add', 0));
    expect(err.data).toMatchObject({ host: 'some-other-host.example', command: 'gc elsewhere' });
    expect(existsSync(join(dir, 'exclusive.lock'))).toBe(true);
  });

  it('treats a lock file being written (unreadable JSON) as held', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'exclusive.lock'), '');
    expect(refusal(() => acquireShared(dir, 'data add', 0)).code).toBe('LOCKED');
    expect(refusal(() => acquireExclusive(dir, 'store gc')).code).toBe('LOCKED');
  });

  it('treats an unreadable lock file left by a crash long ago as stale', () => {
    // A process killed between creating exclusive.lock and writing its JSON leaves an empty
    // file; it must not block every writer and gc forever.
    const dir = tmp();
    const path = join(dir, 'exclusive.lock');
    writeFileSync(path, '');
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(path, old, old);
    acquireShared(dir, 'data add', 0).release();
    expect(existsSync(path)).toBe(false);
    writeFileSync(join(dir, 'shared-1-dead.lock'), '{"pid":');
    utimesSync(join(dir, 'shared-1-dead.lock'), old, old);
    acquireExclusive(dir, 'store gc').release();
    expect(readdirSync(dir)).toEqual([]);
  });
});
