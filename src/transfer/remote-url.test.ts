import { describe, expect, it } from 'vitest';
import { parseRemoteUrl } from './remote-url.js';

describe('parseRemoteUrl', () => {
  it('reads the three kinds of remote', () => {
    expect(parseRemoteUrl('file:///mnt/lustre/team/cairn/')).toEqual({ kind: 'file', path: '/mnt/lustre/team/cairn' });
    expect(parseRemoteUrl('s3://ml-data/projects/fraud')).toEqual({
      kind: 's3',
      bucket: 'ml-data',
      prefix: 'projects/fraud',
    });
    expect(parseRemoteUrl('s3://ml-data')).toEqual({ kind: 's3', bucket: 'ml-data', prefix: '' });
    expect(parseRemoteUrl('ssh://alice@login.hpc.example.org:2222/scratch/alice/cairn')).toEqual({
      kind: 'ssh',
      host: 'login.hpc.example.org',
      port: 2222,
      user: 'alice',
      path: '/scratch/alice/cairn',
    });
    expect(parseRemoteUrl('ssh://login/data')).toEqual({
      kind: 'ssh',
      host: 'login',
      port: 22,
      user: null,
      path: '/data',
    });
  });

  it('refuses what it cannot use, saying why', () => {
    const cases: Array<[string, RegExp]> = [
      ['not a url', /does not parse/],
      ['http://example.org/x', /scheme http: is not supported/],
      ['file://host/x', /no host/],
      ['file:///', /absolute and not the root/],
      ['s3://Bad_Bucket/x', /not a valid bucket name/],
      ['ssh://alice:secret@host/x', /password/],
      ['ssh://host', /remote path is missing/],
      ['s3://bucket/x?versionId=1', /query strings/],
    ];
    for (const [url, why] of cases) {
      let err: unknown;
      try {
        parseRemoteUrl(url);
      } catch (e) {
        err = e;
      }
      expect(err, url).toMatchObject({ code: 'USAGE' });
      expect((err as Error).message, url).toMatch(why);
    }
  });
});
