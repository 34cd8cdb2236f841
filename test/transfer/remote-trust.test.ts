// Issue 10, item 9 (import part) through the real CLI: a version added to a remote's state by
// hand — never audited, any author — is not cloned or pulled, and the user is told which.
// On a directory remote and on S3 (s3rver).
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/core/ids.js';
import { cli } from '../../src/test-support/cli.js';
import { sharedS3Server, stopSharedS3Server } from '../../src/test-support/s3-server.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';
import type { RemoteState } from '../../src/transfer/state.js';

interface Kind {
  name: string;
  setup(tmp: () => string): Promise<{
    url: string;
    opts: string[];
    env?: NodeJS.ProcessEnv;
    edit(fn: (s: RemoteState) => void): Promise<void>;
  } | null>;
}

const kinds: Kind[] = [
  {
    name: 'file://',
    setup: async (tmp) => {
      const dir = join(tmp(), 'remote');
      const file = join(dir, 'meta', 'state.json');
      return {
        url: `file://${dir}`,
        opts: [],
        edit: async (fn) => {
          const s = JSON.parse(readFileSync(file, 'utf8')) as RemoteState;
          fn(s);
          writeFileSync(file, JSON.stringify(s));
        },
      };
    },
  },
  {
    name: 's3:// (s3rver)',
    setup: async () => {
      const s = await sharedS3Server();
      if (!s) return null;
      const prefix = `trust-${randomBytes(4).toString('hex')}`;
      const { S3Backend } = await import('../../src/transfer/backends/s3/s3-backend.js');
      return {
        url: `s3://${s.bucket}/${prefix}`,
        opts: ['--endpoint', s.endpoint],
        env: {
          AWS_ACCESS_KEY_ID: s.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: s.credentials.secretAccessKey,
          AWS_REGION: s.region,
        },
        edit: async (fn) => {
          const b = new S3Backend({
            bucket: s.bucket,
            prefix,
            endpoint: s.endpoint,
            forcePathStyle: true,
            region: s.region,
            credentials: s.credentials,
          });
          try {
            const st = JSON.parse((await b.get('meta/state.json')).toString('utf8')) as RemoteState;
            fn(st);
            await b.put('meta/state.json', Buffer.from(JSON.stringify(st)));
          } finally {
            await b.close();
          }
        },
      };
    },
  },
];

describe('clone and pull import only versions a verified remote log vouches for', () => {
  const tmp = useTempDirs();
  afterAll(() => stopSharedS3Server());

  for (const kind of kinds) {
    it(
      `${kind.name}: a hand-forged version is refused by name; the audited ones clone, pull and check out`,
      { timeout: 120_000 },
      async (ctx) => {
        const remote = await kind.setup(tmp);
        if (!remote) return ctx.skip();
        const env = remote.env;
        const run = (cwd: string, args: string[]) => cli(args, { cwd, ...(env ? { env } : {}) });
        const a = tmp();
        expect(run(a, ['init']).code).toBe(0);
        const src = join(tmp(), 'src');
        writeTree(src, { 'train.csv': 'id,label\n1,spam\n', 'x.bin': prng(5, 30_000) });
        expect(run(a, ['data', 'add', src, '--name', 'mail']).code).toBe(0);
        expect(run(a, ['remote', 'add', 'origin', remote.url, ...remote.opts]).code).toBe(0);
        const pushed = run(a, ['push']);
        expect(pushed.code, pushed.stderr).toBe(0);

        // Someone with write access to the remote adds mail@v2 by hand, "by" alice.
        await remote.edit((s) => {
          const v1 = s.versions[0]!;
          s.versions.push({ ...v1, id: uuidv7(), number: 2, parent_id: v1.id, message: 'quick fix' });
        });

        const b = join(tmp(), 'clone');
        const cloned = run(tmp(), ['clone', remote.url, b, ...remote.opts, '--json']);
        expect(cloned.code, cloned.stdout + cloned.stderr).toBe(0);
        const doc = cloned.json as {
          versions: number;
          skipped: Array<{ dataset: string; number: number; why: string }>;
          imported: Array<{ number: number; author: string }>;
        };
        expect(doc.versions).toBe(1);
        expect(doc.imported.map((i) => [i.number, i.author])).toEqual([[1, 'tester@example.com']]);
        expect(doc.skipped).toEqual([
          expect.objectContaining({ dataset: 'mail', number: 2, why: 'no event of a verified audit log records it' }),
        ]);
        expect(cloned.stderr).toContain('were not imported');
        expect(cloned.stderr).toContain('mail@v2');

        const refused = run(b, ['pull', 'mail@v2', '--json']);
        expect(refused.code).toBe(1);
        expect((refused.json as { error: { code: string; message: string } }).error).toMatchObject({
          code: 'NOT_VOUCHED',
          message: expect.stringContaining('mail@v2'),
        });
        const human = run(b, ['pull']);
        expect(human.code, human.stderr).toBe(0);
        expect(human.stderr).toContain('mail@v2');
        expect(run(b, ['data', 'checkout', 'mail@v1', join(b, 'out')]).code).toBe(0);
        expect(readFileSync(join(b, 'out', 'train.csv'), 'utf8')).toBe('id,label\n1,spam\n');
        expect(run(b, ['data', 'checkout', 'mail@v2', join(b, 'out2')]).code).toBe(1);
        const log = run(b, ['audit', 'log', '--json']).json as Array<{ action: string; outcome: string }>;
        expect(log.map((e) => `${e.action}:${e.outcome}`)).toEqual([
          'workspace.init:ok',
          'workspace.clone:ok',
          'remote.pull:failed',
          'remote.pull:ok',
          'dataset.checkout:ok',
        ]);
        expect(run(b, ['audit', 'verify']).code).toBe(0);
      },
    );
  }
});
