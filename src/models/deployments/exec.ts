import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readSync, fstatSync } from 'node:fs';
import { dirname } from 'node:path';

export interface CommandResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Last lines of what the command wrote (stdout and stderr), for the error message. */
  tail: string;
  log: string;
}

/**
 * Runs `command` with /bin/sh -c in a process group of its own, its output appended to
 * `log`. Past `timeoutMs` the whole group gets SIGTERM and, `graceMs` later (or as soon as
 * the shell is gone), SIGKILL, so children it started in the background die with it. On a
 * normal exit, background processes the command left behind are left alone (a hook may start
 * a daemon); the exit of the shell is what counts, not the closing of its output.
 */
export function runCommand(
  command: string,
  opts: { env: NodeJS.ProcessEnv; cwd: string; log: string; timeoutMs: number; graceMs?: number },
): Promise<CommandResult> {
  // Owner-only: a hook's output can hold whatever the hook prints (tokens, hosts, errors).
  mkdirSync(dirname(opts.log), { recursive: true, mode: 0o700 });
  const fd = openSync(opts.log, 'a', 0o600);
  const grace = opts.graceMs ?? 2000;
  return new Promise((resolve) => {
    let timedOut = false;
    let killTimer: NodeJS.Timeout | null = null;
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    closeSync(fd);
    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // ESRCH: the group is gone already.
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), grace);
    }, opts.timeoutMs);
    const done = (exitCode: number | null, signal: string | null) => {
      clearTimeout(timer);
      if (timedOut) {
        // Whatever of the group survived SIGTERM (the shell may have ignored it, or died and
        // left children behind) is killed now.
        if (killTimer) clearTimeout(killTimer);
        killGroup('SIGKILL');
      }
      resolve({ exitCode, signal, timedOut, tail: readTail(opts.log), log: opts.log });
    };
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ exitCode: null, signal: null, timedOut: false, tail: err.message, log: opts.log });
    });
    child.once('exit', (code, signal) => done(code, signal));
  });
}

function readTail(path: string, max = 2000): string {
  try {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const len = Math.min(size, max);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      return buf.toString('utf8').trim();
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

export interface HttpResult {
  status: number | null;
  error: string | null;
}

/** One HTTP request with a time limit; never throws (a refused connection is `error`). */
export async function httpRequest(
  url: string,
  init: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string; timeoutMs: number },
): Promise<HttpResult> {
  try {
    const res = await fetch(url, {
      method: init.method,
      headers: init.headers ?? {},
      ...(init.body !== undefined ? { body: init.body } : {}),
      signal: AbortSignal.timeout(Math.max(1, Math.round(init.timeoutMs))),
      redirect: 'manual',
    });
    // The body is not needed; drain it so the connection can be reused or closed.
    await res.arrayBuffer().catch(() => undefined);
    return { status: res.status, error: null };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why =
      e.name === 'TimeoutError' || e.name === 'AbortError'
        ? `no answer within ${Math.round(init.timeoutMs)} ms`
        : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { status: null, error: why };
  }
}

export const is2xx = (status: number | null): boolean => status !== null && status >= 200 && status < 300;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));
