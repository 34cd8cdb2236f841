import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { processState, undoLeaks } from './process-leaks.js';

// The guard of the shared worker processes (shared-process-guard.ts) is only as good as what this
// finds: each kind of leak is made here, found, named and undone.
describe('undoLeaks', () => {
  it('finds nothing when a file left the process as it found it', () => {
    const before = processState();
    process.env.CAIRN_LEAK_PROBE = 'set and removed again';
    delete process.env.CAIRN_LEAK_PROBE;
    expect(undoLeaks(before)).toEqual([]);
  });

  it('names and undoes a variable set, one changed and one removed', () => {
    const name = 'CAIRN_LEAK_PROBE';
    const before = processState();
    const home = process.env.HOME;
    process.env[name] = 'left behind';
    process.env.HOME = '/nowhere';
    const path = process.env.PATH;
    delete process.env.PATH;
    expect(undoLeaks(before)).toEqual([
      'environment variable CAIRN_LEAK_PROBE',
      'environment variable HOME',
      'environment variable PATH',
    ]);
    expect([process.env[name], process.env.HOME, process.env.PATH]).toEqual([undefined, home, path]);
    expect(undoLeaks(before)).toEqual([]);
  });

  it('leaves alone what Cairn itself sets for the whole process (the S3 backend on first use)', () => {
    const name = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';
    const was = process.env[name];
    delete process.env[name];
    const before = processState();
    process.env[name] = 'true';
    try {
      expect(undoLeaks(before)).toEqual([]);
      expect(process.env[name]).toBe('true');
    } finally {
      if (was === undefined) delete process.env[name];
      else process.env[name] = was;
    }
  });

  it('names and undoes a changed working directory and fake timers', () => {
    const before = processState();
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'cairn-leak-')));
    try {
      process.chdir(dir);
      vi.useFakeTimers();
      expect(undoLeaks(before)).toEqual([`working directory ${dir}`, 'fake timers']);
      expect(process.cwd()).toBe(before.cwd);
      expect(vi.isFakeTimers()).toBe(false);
    } finally {
      process.chdir(before.cwd);
      vi.useRealTimers();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
