import { chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { giveToJobUser, takeBackFromJob } from './job-folders.js';

const isRoot = process.getuid?.() === 0;

/**
 * A run's checkpoints from an attempt on one pool account, taken back by the server when it ended,
 * are given whole to the account of the next attempt (which rewrites them in place); what the
 * server does not own in them (another account's file, a link's target) is left alone.
 */
describe.runIf(isRoot)('checkpoint folders between pool accounts', () => {
  it('taken back from one account, given whole to the next; others’ entries and link targets untouched', () => {
    const root = mkdtempSync(join(tmpdir(), 'cairn-ckpt-'));
    try {
      const ckpt = join(root, 'ckpt');
      const outside = join(root, 'outside.txt');
      writeFileSync(outside, 'x');
      mkdirSync(join(ckpt, 'sub'), { recursive: true });
      writeFileSync(join(ckpt, 'sub', 'model.pt'), 'w');
      writeFileSync(join(ckpt, 'theirs'), 't');
      symlinkSync(outside, join(ckpt, 'link'));
      for (const p of [ckpt, join(ckpt, 'sub'), join(ckpt, 'sub', 'model.pt'), join(ckpt, 'theirs')])
        chownSync(p, 3_900_001, 3_900_001);
      takeBackFromJob([ckpt]);
      expect(lstatSync(join(ckpt, 'sub', 'model.pt')).uid).toBe(0);
      chownSync(join(ckpt, 'theirs'), 3_900_003, 3_900_003);
      const next = { name: 'next', uid: 3_900_002, gid: 3_900_002, home: '/' };
      giveToJobUser(next, { dirs: [ckpt], files: [] });
      for (const p of [ckpt, join(ckpt, 'sub'), join(ckpt, 'sub', 'model.pt'), join(ckpt, 'link')])
        expect(lstatSync(p).uid, p).toBe(3_900_002);
      expect(lstatSync(join(ckpt, 'theirs')).uid).toBe(3_900_003);
      expect(lstatSync(outside).uid).toBe(0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('a tree too deep to name does not stop the take-back: the rest is taken, the rest counted', () => {
    const root = mkdtempSync(join(tmpdir(), 'cairn-deep-'));
    try {
      const out = join(root, 'out');
      mkdirSync(out);
      writeFileSync(join(out, 'model.bin'), 'm');
      // 300 folders of 20 characters: past PATH_MAX (4096), made one step at a time as a job would.
      execFileSync('bash', [
        '-c',
        'cd "$1" && for i in $(seq 300); do mkdir dddddddddddddddddddd && cd dddddddddddddddddddd || exit 1; done',
        '_',
        out,
      ]);
      chownSync(join(out, 'model.bin'), 3_900_001, 3_900_001);
      const missed = takeBackFromJob([out]);
      expect(missed).toBeGreaterThan(0);
      expect(lstatSync(join(out, 'model.bin')).uid).toBe(0);
    } finally {
      execFileSync('bash', [
        '-c',
        'cd "$1" && while [ -d out/dddddddddddddddddddd ]; do mv out/dddddddddddddddddddd x && rm -rf out && mv x out || break; done; true',
        '_',
        root,
      ]);
      rmSync(root, { recursive: true, force: true });
    }
  });
});
