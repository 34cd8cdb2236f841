import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../test-support/temp.js';
import {
  METADATA_PASSWORD_FILE,
  saveMetadataPassword,
  splitPassword,
  withMetadataPassword,
} from './metadata-password.js';

describe('the metadata database password', () => {
  const tmp = useTempDirs();

  it('is split off the URL config.json stores, and put back from the environment or the owner-only file', async () => {
    expect(splitPassword('postgres://app:p%40ss@db:5432/meta?schema=w')).toEqual({
      url: 'postgres://app@db:5432/meta?schema=w',
      password: 'p@ss',
    });
    expect(splitPassword('postgres://app@db/meta')).toEqual({ url: 'postgres://app@db/meta', password: null });
    expect(splitPassword('sqlite:meta.db')).toEqual({ url: 'sqlite:meta.db', password: null });

    const cairnDir = tmp();
    const url = 'postgres://app@db:5432/meta?schema=w';
    // Neither: the URL as stored (the driver then tries PGPASSWORD and ~/.pgpass).
    expect(withMetadataPassword(url, cairnDir, {})).toBe(url);
    mkdirSync(join(cairnDir, 'keys'));
    await saveMetadataPassword(cairnDir, 'p@ss:/word');
    expect(statSync(join(cairnDir, METADATA_PASSWORD_FILE)).mode & 0o777).toBe(0o600);
    const fromFile = new URL(withMetadataPassword(url, cairnDir, {}));
    expect(decodeURIComponent(fromFile.password)).toBe('p@ss:/word');
    expect([fromFile.username, fromFile.host, fromFile.pathname, fromFile.search]).toEqual([
      'app',
      'db:5432',
      '/meta',
      '?schema=w',
    ]);
    // The environment wins over the file.
    expect(
      decodeURIComponent(
        new URL(withMetadataPassword(url, cairnDir, { CAIRN_METADATA_PASSWORD: 'from-env' })).password,
      ),
    ).toBe('from-env');
    expect(withMetadataPassword('sqlite:/x/meta.db', cairnDir, { CAIRN_METADATA_PASSWORD: 'x' })).toBe(
      'sqlite:/x/meta.db',
    );
  });
});
