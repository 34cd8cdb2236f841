import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { remoteBackendConformance } from '../conformance.case.js';
import { FsBackend } from './fs-backend.js';

remoteBackendConformance('file://', () => ({
  open: async () => new FsBackend(mkdtempSync(join(tmpdir(), 'cairn-remote-fs-'))),
  reopen: async (b) => new FsBackend((b as FsBackend).root),
}));

describe('FsBackend', () => {
  it('leaves no temporary file behind and never lists its temp folder', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cairn-remote-fs-'));
    const b = new FsBackend(root);
    await b.put('a/b', Buffer.from('x'));
    expect(readdirSync(join(root, '.cairn-tmp'))).toEqual([]);
    expect(await b.list('')).toEqual([{ key: 'a/b', size: 1 }]);
  });
});
