import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { CairnError } from '../../core/errors.js';

/**
 * Writers that add packs hold a shared lock; `gc`, which deletes packs, holds the exclusive
 * one. Both sides create their own file first and then look for the other kind, so at least
 * one of two racing processes always sees the other (a store-then-load handshake). Locks of
 * dead processes on this host are removed when found.
 */
export interface Lock {
  release(): void;
}

interface LockInfo {
  pid: number;
  host: string;
  started: string;
  command: string;
}

const EXCLUSIVE = 'exclusive.lock';
/** A lock file that still cannot be parsed this long after it was last written is a crash's leftover. */
const UNREADABLE_STALE_MS = 60_000;

export function acquireShared(dir: string, command: string, waitMs = 120_000): Lock {
  fs.mkdirSync(dir, { recursive: true });
  const mine = join(dir, `shared-${process.pid}-${randomBytes(4).toString('hex')}.lock`);
  const deadline = Date.now() + waitMs;
  for (;;) {
    writeWhole(mine, JSON.stringify(info(command)), false);
    const holder = liveHolder(join(dir, EXCLUSIVE));
    if (!holder) return { release: () => fs.rmSync(mine, { force: true }) };
    fs.rmSync(mine, { force: true });
    if (Date.now() > deadline) throw locked(holder);
    sleep(100);
  }
}

export function acquireExclusive(dir: string, command: string): Lock {
  fs.mkdirSync(dir, { recursive: true });
  const path = join(dir, EXCLUSIVE);
  for (let attempt = 0; ; attempt++) {
    try {
      writeWhole(path, JSON.stringify(info(command)), true);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = liveHolder(path);
      if (holder) throw locked(holder);
      if (attempt > 3) throw locked({ pid: -1, host: '?', started: '?', command: 'unknown' });
    }
  }
  for (const name of fs.readdirSync(dir)) {
    if (!name.startsWith('shared-')) continue;
    const holder = liveHolder(join(dir, name));
    if (holder) {
      fs.rmSync(path, { force: true });
      throw locked(holder);
    }
  }
  return { release: () => fs.rmSync(path, { force: true }) };
}

/**
 * The exclusive lock for a process that already holds a shared one (a writer cleaning up
 * after itself), or null at once when any other process holds a shared or the exclusive lock.
 * Shared locks of this very process are not counted: a CLI process runs one command.
 */
export function tryExclusiveFromShared(dir: string, command: string): Lock | null {
  fs.mkdirSync(dir, { recursive: true });
  const path = join(dir, EXCLUSIVE);
  try {
    writeWhole(path, JSON.stringify(info(command)), true);
  } catch {
    return null;
  }
  for (const name of fs.readdirSync(dir)) {
    if (!name.startsWith('shared-')) continue;
    const holder = liveHolder(join(dir, name));
    if (holder && !(holder.pid === process.pid && holder.host === hostname())) {
      fs.rmSync(path, { force: true });
      return null;
    }
  }
  return { release: () => fs.rmSync(path, { force: true }) };
}

/**
 * Puts `text` under `path` whole or not at all (`exclusive`: failing with EEXIST when it is there).
 * A process killed between creating a lock file and writing it left it empty, which every writer
 * and gc then waited out as held by an unknown process for a minute (test/faults/crash-random).
 * The text is written to a file of its own first, then linked (exclusive) or renamed into place;
 * a file system without hard links gets the old exclusive create.
 */
function writeWhole(path: string, text: string, exclusive: boolean): void {
  const tmp = join(dirname(path), `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  fs.writeFileSync(tmp, text, { flag: 'wx' });
  try {
    if (!exclusive) return fs.renameSync(tmp, path);
    try {
      fs.linkSync(tmp, path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
      fs.writeFileSync(path, text, { flag: 'wx' });
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function info(command: string): LockInfo {
  return { pid: process.pid, host: hostname(), started: new Date().toISOString(), command };
}

/** The lock's owner if it is still alive; stale locks of dead local processes are deleted. */
function liveHolder(path: string): LockInfo | null {
  let data: LockInfo;
  try {
    data = JSON.parse(fs.readFileSync(path, 'utf8')) as LockInfo;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    // Being written right now by its owner: treat as held. But an owner killed between
    // creating the file and writing it leaves it unreadable for good; once it is older than
    // any write could take, it is stale, or it would block every writer and gc forever.
    let mtimeMs: number;
    try {
      mtimeMs = fs.statSync(path).mtimeMs;
    } catch {
      return null;
    }
    if (Date.now() - mtimeMs > UNREADABLE_STALE_MS) {
      try {
        fs.rmSync(path, { force: true });
        return null;
      } catch {
        // Not a file we can remove (e.g. a directory): keep treating it as held.
      }
    }
    return { pid: -1, host: '?', started: '?', command: 'unknown' };
  }
  if (data.host === hostname() && !processAlive(data.pid)) {
    fs.rmSync(path, { force: true });
    return null;
  }
  return data;
}

/** Whether a process with this id runs on this host (EPERM: it does, under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function locked(h: LockInfo): CairnError {
  return new CairnError(
    'LOCKED',
    `the object store is busy: \`${h.command}\` (pid ${h.pid} on ${h.host}, since ${h.started})`,
    {
      data: { ...h },
      hint: 'wait for it to finish and try again',
    },
  );
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
