import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test-support/temp.js';
import { collectRun } from './run-code.js';

/** What `collectRun` threw, or undefined. */
function thrown(spec: string): unknown {
  try {
    collectRun(spec);
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('the code sent with a run to a server: names that are not UTF-8', () => {
  const tmp = useTempDirs();

  for (const git of [false, true]) {
    it(`are refused, named, never left out of what is sent (${git ? 'in git' : 'outside git'})`, () => {
      const dir = tmp();
      if (git) spawnSync('git', ['init', '-q', dir]);
      writeFileSync(join(dir, 'cairn.yaml'), 'command: python train.py\n');
      writeFileSync(join(dir, 'train.py'), 'print(1)\n');
      mkdirSync(join(dir, 'lib'));
      writeFileSync(Buffer.from(`${dir}/lib/util\xe9.py`, 'latin1'), 'x = 1\n');
      expect(thrown(join(dir, 'cairn.yaml'))).toMatchObject({
        code: 'INVALID_INPUT',
        data: { path: 'lib/util\\xe9.py', folder: join(dir, 'lib') },
      });
      // A name that really holds U+FFFD is sent like any other.
      rmSync(Buffer.from(`${dir}/lib/util\xe9.py`, 'latin1'));
      writeFileSync(join(dir, 'lib', 'ok\uFFFD.py'), 'y = 2\n');
      expect(Object.keys(collectRun(join(dir, 'cairn.yaml')).files).sort()).toEqual([
        'cairn.yaml',
        'lib/ok\uFFFD.py',
        'train.py',
      ]);
    });
  }
});
