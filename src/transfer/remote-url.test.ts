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

  it('reads a Cairn team server URL as a remote (its store, through its API)', () => {
    expect(parseRemoteUrl('https://cairn.example/team/')).toEqual({
      kind: 'server',
      url: 'https://cairn.example/team',
    });
    expect(parseRemoteUrl('http://127.0.0.1:8080')).toEqual({ kind: 'server', url: 'http://127.0.0.1:8080' });
  });

  it('refuses what it cannot use, saying why', () => {
    const cases: Array<[string, RegExp]> = [
      ['not a url', /does not parse/],
      ['ftp://example.org/x', /scheme ftp: is not supported/],
      ['https://alice@cairn.example', /a server URL has no user/],
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
