import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCairnError } from '../core/errors.js';
import { useTempDirs } from '../test-support/temp.js';
import { metaConformance } from './conformance.case.js';
import { openMetaStore, type MetaStore } from './open.js';

metaConformance('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-meta-'));
  const url = `sqlite:${join(dir, 'meta.db')}`;
  const handles: MetaStore[] = [];
  const first = await openMetaStore(url);
  handles.push(first);
  return {
    db: first.db,
    dialect: first.dialect,
    close: () => first.close(),
    reopen: async () => {
      const s = await openMetaStore(url);
      handles.push(s);
      return s;
    },
    destroy: async () => {
      for (const h of handles) await h.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SQLite specifics', () => {
  const tmp = useTempDirs();

  it('opens a plain path or a sqlite: URL in WAL mode with foreign keys on', async () => {
    const dir = tmp();
    for (const url of [join(dir, 'a.db'), `sqlite:${join(dir, 'b.db')}`]) {
      const s = await openMetaStore(url);
      try {
        expect(s.dialect).toBe('sqlite');
        expect(s.location).toBe(url.replace(/^sqlite:/, ''));
        expect(s.sqlite!.pragma('journal_mode', { simple: true })).toBe('wal');
        expect(s.sqlite!.pragma('foreign_keys', { simple: true })).toBe(1);
      } finally {
        await s.close();
      }
    }
  });

  it('reports a file that is not a database as DB_ERROR', async () => {
    const file = join(tmp(), 'junk.db');
    writeFileSync(file, 'this is not an SQLite database, just text that is long enough to have a header');
    await expect(openMetaStore(`sqlite:${file}`)).rejects.toSatisfy((e) => isCairnError(e, 'DB_ERROR'));
  });

  it('reports an unreachable location as DB_ERROR', async () => {
    const file = join(tmp(), 'no', 'such', 'dir', 'meta.db');
    await expect(openMetaStore(`sqlite:${file}`)).rejects.toSatisfy((e) => isCairnError(e, 'DB_ERROR'));
  });
});
