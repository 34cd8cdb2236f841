import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCairnError } from '../core/errors.js';
import { useTempDirs } from '../test-support/temp.js';
import { loadRemotesFile, openBackend, remotesPort, saveRemotesFile } from './transfer-config.js';

describe('app/transfer-config: remote settings and backends come from app/', () => {
  const tmp = useTempDirs();

  it('remotes.json round-trips owner-only; a missing file means no remotes', async () => {
    const dir = tmp();
    expect(loadRemotesFile(dir)).toEqual({ version: 1, remotes: {} });
    const file = { version: 1 as const, default: 'origin', remotes: { origin: { url: 'file:///srv/cairn', jobs: 8 } } };
    await saveRemotesFile(dir, file);
    expect(statSync(join(dir, 'remotes.json')).mode & 0o777).toBe(0o600);
    expect(loadRemotesFile(dir)).toEqual(file);
    expect(remotesPort(dir, {}).load()).toEqual(file);
  });

  it('a bad remotes.json names every problem at once', () => {
    const dir = tmp();
    writeFileSync(
      join(dir, 'remotes.json'),
      JSON.stringify({ version: 2, remotes: { a: { url: 'file:///x', jobs: 0, colour: 'red' } } }),
    );
    let err: unknown;
    try {
      loadRemotesFile(dir);
    } catch (e) {
      err = e;
    }
    expect(isCairnError(err, 'CONFIG_INVALID')).toBe(true);
    expect((err as { data: { problems: string[] } }).data.problems).toEqual([
      'version: expected 1',
      'remotes.a.jobs: expected a whole number from 1 to 64',
      'remotes.a.colour: unknown key',
    ]);
  });

  it('the URL picks the backend; an S3 region comes from the remote, else AWS_REGION in the env given', async () => {
    const fs = await openBackend({ url: 'file:///srv/cairn' }, {}, {});
    expect(fs.url).toBe('file:///srv/cairn');
    const fromEnv = await openBackend({ url: 's3://bucket/p' }, {}, { AWS_REGION: 'eu-west-3' });
    const fromConfig = await openBackend(
      { url: 's3://bucket/p', region: 'ap-south-1' },
      {},
      { AWS_REGION: 'eu-west-3' },
    );
    const neither = await openBackend({ url: 's3://bucket/p' }, {}, {});
    const region = (b: unknown) => (b as { client: { config: { region(): Promise<string> } } }).client.config.region();
    expect([fromEnv.url, await region(fromEnv), await region(fromConfig), await region(neither)]).toEqual([
      's3://bucket/p',
      'eu-west-3',
      'ap-south-1',
      'us-east-1',
    ]);
    await Promise.all([fs, fromEnv, fromConfig, neither].map((b) => b.close()));
  });
});
