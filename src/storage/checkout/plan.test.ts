import { describe, expect, it } from 'vitest';
import { planCheckout, type Present, type Wanted } from './plan.js';
import { sha256Hex as sha } from '../../core/digest.js';

function want(path: string, content: string, mode: '644' | '755' = '644'): Wanted {
  return { path, type: 'file', digest: sha(content), size: content.length, mode, chunks: [sha(content)] };
}
const wantDir = (path: string): Wanted => ({ path, type: 'dir' });
const wantLink = (path: string, target: string): Wanted => ({ path, type: 'symlink', target });

const has = (content: string, mode: '644' | '755' = '644'): Present => ({ type: 'file', digest: sha(content), mode });
const hasLink = (target: string): Present => ({ type: 'symlink', target });
const hasDir: Present = { type: 'dir' };

describe('planCheckout', () => {
  it('writes everything into a fresh directory', () => {
    const wanted = [wantDir('d'), want('d/a', 'A'), want('b', 'B', '755'), wantLink('l', 'b')];
    const plan = planCheckout(wanted, new Map(), null, false);
    expect(plan).toEqual({
      write: wanted.map((entry) => ({ entry, replace: false })),
      remove: [],
      conflicts: [],
      untracked: [],
      unchanged: 0,
    });
  });

  it('leaves files and links that already match alone (same digest and mode, same target)', () => {
    const wanted = [wantDir('d'), want('d/a', 'A'), want('x', 'X', '755'), wantLink('l', 'x')];
    const present = new Map<string, Present>([
      ['d', hasDir],
      ['d/a', has('A')],
      ['x', has('X', '755')],
      ['l', hasLink('x')],
    ]);
    // Even with no record of a previous checkout: identical content needs no decision.
    const plan = planCheckout(wanted, present, null, false);
    expect(plan).toEqual({ write: [], remove: [], conflicts: [], untracked: [], unchanged: 3 });
  });

  it('replaces pristine tracked files and links with the new version', () => {
    const wanted = [want('a', 'A2'), wantLink('l', 'b'), want('m', 'M', '755')];
    const present = new Map<string, Present>([
      ['a', has('A1')],
      ['l', hasLink('a')],
      ['m', has('M')],
    ]);
    const tracked = new Map([
      ['a', sha('A1')],
      ['l', '->a'],
      ['m', sha('M')],
    ]);
    const plan = planCheckout(wanted, present, tracked, false);
    expect(plan.conflicts).toEqual([]);
    // A mode-only change of a pristine file is a replacement too.
    expect(plan.write).toEqual(wanted.map((entry) => ({ entry, replace: true })));
  });

  it('refuses to overwrite a tracked file edited since checkout, unless forced', () => {
    const wanted = [want('a', 'A2'), wantLink('l', 'new')];
    const present = new Map<string, Present>([
      ['a', has('edited by user')],
      ['l', hasLink('repointed')],
    ]);
    const tracked = new Map([
      ['a', sha('A1')],
      ['l', '->old'],
    ]);
    const plan = planCheckout(wanted, present, tracked, false);
    expect(plan.write).toEqual([]);
    expect(plan.conflicts).toEqual([
      { path: 'a', reason: 'modified since checkout' },
      { path: 'l', reason: 'modified since checkout' },
    ]);
    const forced = planCheckout(wanted, present, tracked, true);
    expect(forced.conflicts).toEqual([]);
    expect(forced.write).toEqual(wanted.map((entry) => ({ entry, replace: true })));
  });

  it('keeps untracked files the version does not name, and reports them', () => {
    const present = new Map<string, Present>([
      ['notes.txt', has('mine')],
      ['scratch', hasLink('notes.txt')],
      ['mydir', hasDir],
    ]);
    for (const tracked of [null, new Map([['other', sha('o')]])]) {
      const plan = planCheckout([want('a', 'A')], present, tracked, false);
      expect(plan.untracked).toEqual(['notes.txt', 'scratch']);
      expect(plan.remove).toEqual([]);
      expect(plan.conflicts).toEqual([]);
      // Force does not delete what Cairn never wrote.
      expect(planCheckout([want('a', 'A')], present, tracked, true).remove).toEqual([]);
    }
  });

  it('treats an untracked file in the way of a version file as a conflict, unless forced', () => {
    const present = new Map<string, Present>([['a', has('user data')]]);
    const plan = planCheckout([want('a', 'A')], present, null, false);
    expect(plan.conflicts).toEqual([{ path: 'a', reason: 'untracked file differs from the version' }]);
    expect(plan.write).toEqual([]);
    // Same content, other mode: still differs, still the user's file.
    expect(planCheckout([want('a', 'A', '755')], new Map([['a', has('A')]]), null, false).conflicts).toHaveLength(1);
    expect(planCheckout([want('a', 'A')], present, null, true).write).toEqual([
      { entry: want('a', 'A'), replace: true },
    ]);
  });

  it('removes pristine tracked files and links the new version drops, and nothing else', () => {
    const present = new Map<string, Present>([
      ['keep', has('K')],
      ['old', has('O')],
      ['oldlink', hasLink('keep')],
      ['edited', has('changed')],
      ['mine', has('untracked')],
      ['dir', hasDir],
    ]);
    const tracked = new Map([
      ['keep', sha('K')],
      ['old', sha('O')],
      ['oldlink', '->keep'],
      ['edited', sha('E')],
      ['dir', sha('whatever')],
    ]);
    const plan = planCheckout([want('keep', 'K')], present, tracked, false);
    expect(plan.remove).toEqual(['old', 'oldlink']);
    expect(plan.conflicts).toEqual([{ path: 'edited', reason: 'modified since checkout, and the version deletes it' }]);
    expect(plan.untracked).toEqual(['mine']);
    expect(plan.unchanged).toBe(1);
    // Directories are never removed by the plan (empty parents are pruned after removals).
    const forced = planCheckout([want('keep', 'K')], present, tracked, true);
    expect(forced.remove).toEqual(['old', 'oldlink', 'edited']);
    expect(forced.conflicts).toEqual([]);
  });

  it('treats untracked things of the wrong type in the way as conflicts, and replaces them when forced', () => {
    const cases: Array<[Wanted, Present, string]> = [
      [wantDir('p'), has('f'), 'a file with local changes is in the way of a directory'],
      [wantDir('p'), hasLink('x'), 'a symlink with local changes is in the way of a directory'],
    ];
    for (const [w, p, reason] of cases) {
      const plan = planCheckout([w], new Map([['p', p]]), null, false);
      expect(plan.conflicts, reason).toEqual([{ path: 'p', reason }]);
      expect(plan.write).toEqual([]);
      const forced = planCheckout([w], new Map([['p', p]]), null, true);
      // The file goes first (removals run before writes), then the directory is created.
      expect(forced.remove).toEqual(['p']);
      expect(forced.write).toEqual([{ entry: w, replace: false }]);
      expect(forced.conflicts).toEqual([]);
    }
    // An empty directory in the way of a file or link loses nothing: it is replaced.
    for (const w of [want('p', 'P'), wantLink('p', 'x')]) {
      const plan = planCheckout([w], new Map([['p', hasDir]]), null, false);
      expect(plan.conflicts).toEqual([]);
      expect(plan.write).toEqual([{ entry: w, replace: true }]);
    }
    // A directory holding an untracked file is not: conflict, unless forced.
    const withFile = new Map<string, Present>([
      ['p', hasDir],
      ['p/u', has('mine')],
    ]);
    expect(planCheckout([want('p', 'P')], withFile, null, false).conflicts).toEqual([
      { path: 'p', reason: 'a directory holding 1 local file(s) is in the way' },
    ]);
    const forcedDir = planCheckout([want('p', 'P')], withFile, null, true);
    expect(forcedDir.remove).toEqual(['p/u']);
    expect(forcedDir.write).toEqual([{ entry: want('p', 'P'), replace: true }]);
    // A file where a link is wanted (and vice versa) follows the file rules: untracked → conflict.
    expect(planCheckout([wantLink('p', 'x')], new Map([['p', has('f')]]), null, false).conflicts).toEqual([
      { path: 'p', reason: 'untracked file differs from the version' },
    ]);
    // ...and a pristine tracked file may become a link.
    expect(
      planCheckout([wantLink('p', 'x')], new Map([['p', has('f')]]), new Map([['p', sha('f')]]), false).write,
    ).toEqual([{ entry: wantLink('p', 'x'), replace: true }]);
  });

  it('keeps an existing directory without counting or rewriting it', () => {
    const plan = planCheckout([wantDir('d')], new Map([['d', hasDir]]), null, false);
    expect(plan).toEqual({ write: [], remove: [], conflicts: [], untracked: [], unchanged: 0 });
  });

  // Switching between versions where a path changes from file to directory (or back) must
  // not need --force when everything in the way is what the previous checkout wrote.
  it('lets a directory replace a pristine tracked file of the same name without --force', () => {
    const wanted = [wantDir('p'), want('p/inner', 'I')];
    const present = new Map<string, Present>([['p', has('old file')]]);
    const tracked = new Map([['p', sha('old file')]]);
    const plan = planCheckout(wanted, present, tracked, false);
    expect(plan.conflicts).toEqual([]);
    expect(plan.remove).toContain('p');
  });

  it('lets a file replace a directory that holds only pristine tracked files without --force', () => {
    const present = new Map<string, Present>([
      ['p', hasDir],
      ['p/inner', has('I')],
    ]);
    const tracked = new Map([['p/inner', sha('I')]]);
    const plan = planCheckout([want('p', 'new file')], present, tracked, false);
    expect(plan.conflicts).toEqual([]);
    expect(plan.remove).toEqual(['p/inner']);
  });
});
