// A remote (or whoever controls its store) decides how many bytes it sends. Before, a pull asked
// for every object with no bound of its own, so a 10 KiB pack, the state or a checkpoint note
// could be answered with up to 2 GiB, all of it buffered before anything was checked (and an
// encrypted remote dropped the bound altogether). Now each read is bounded by what is expected:
// a pack by the size the state records for it (plus the cipher's overhead on an encrypted
// remote), the state by 256 MiB, a bundle's notes and keys by 1 MiB. A remote that sends more is
// cut off at the bound (IO_ERROR, data.tooLarge), and the pull changes nothing but its log.
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transferDeps } from '../../src/app/transfer-config.js';
import { removeTree } from '../../src/storage/cache/read-only.js';
import type { Workspace } from '../../src/app/workspace.js';
import { addVersion } from '../../src/datasets/add.js';
import { startLoopback } from '../../src/test-support/loopback.js';
import { useWorkspaces } from '../../src/test-support/remote-fixtures.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { eventCount, expectUnchanged, refusal, snapshot } from '../../src/test-support/workspace-snapshot.js';
import { newWorkspace, prng, writeTree } from '../../src/test-support/workspace.js';
import { FsBackend } from '../../src/transfer/backends/fs/fs-backend.js';
import { S3Backend } from '../../src/transfer/backends/s3/s3-backend.js';
import { EncryptedBackend } from '../../src/transfer/crypto/encrypted-backend.js';
import { parseRemoteKey } from '../../src/transfer/crypto/remote-keys.js';
import { cloneInto } from '../../src/transfer/clone.js';
import { pull } from '../../src/transfer/pull.js';
import { push } from '../../src/transfer/push.js';
import { addRemote, exportRemoteKey } from '../../src/transfer/remote-admin.js';
import { MAX_STATE_BYTES, packKey } from '../../src/transfer/remote-layout.js';

const deps = (ws: Workspace) => transferDeps(ws);

/** alice's one version (one pack), pushed once to a plain and once to an encrypted folder remote. */
let fixture: { root: string; plain: string; vault: string; keyFile: string; pack: { id: string; size: number } };
let alice: Workspace;

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'cairn-packcap-'));
  alice = await newWorkspace(join(root, 'alice'), { actor: 'alice@example.com' });
  writeTree(join(root, 'src'), { 'a.bin': prng(1, 6_000), 'b.bin': prng(2, 4_000) });
  await addVersion(alice, { source: join(root, 'src'), name: 'mail' });
  const plain = join(root, 'plain');
  const vault = join(root, 'vault');
  await addRemote(deps(alice), 'origin', `file://${plain}`, {});
  await addRemote(deps(alice), 'vault', `file://${vault}`, { encrypt: true });
  await push(deps(alice), [], { remote: 'origin' });
  await push(deps(alice), [], { remote: 'vault' });
  const keyFile = join(root, 'vault.key');
  writeFileSync(keyFile, exportRemoteKey(deps(alice), 'vault'));
  const packs = await alice.meta.db.selectFrom('packs').select(['id', 'size']).execute();
  expect(packs).toHaveLength(1);
  fixture = { root, plain, vault, keyFile, pack: { id: packs[0]!.id, size: Number(packs[0]!.size) } };
});

afterAll(async () => {
  await alice?.close();
  if (fixture) removeTree(fixture.root);
});

describe('attack: a remote that sends more than the pull expects', () => {
  const tmp = useTempDirs();
  const workspace = useWorkspaces(tmp);

  /** A copy of one of alice's remotes, to damage, and bob with it added (and his state before the pull). */
  const setup = async (which: 'plain' | 'vault', url?: (dir: string) => string) => {
    const dir = join(tmp(), which);
    cpSync(which === 'plain' ? fixture.plain : fixture.vault, dir, { recursive: true });
    const bob = await workspace('bob@example.com');
    const u = url ? url(dir) : `file://${dir}`;
    await addRemote(deps(bob), 'origin', u, which === 'vault' ? { keyFile: fixture.keyFile } : {});
    return { dir, bob, before: await snapshot(bob), events: await eventCount(bob) };
  };
  const vaultName = (dir: string, key: string) =>
    new EncryptedBackend(new FsBackend(dir), parseRemoteKey(readFileSync(fixture.keyFile, 'utf8'))).physicalName(key);
  /** Makes a file `extra` bytes longer without writing them (a sparse tail of zeros). */
  const grow = (path: string, extra: number) => truncateSync(path, statSync(path).size + extra);

  it('a pack larger than the size the state records is refused before it is read, naming the versions', async () => {
    const { dir, bob, before, events } = await setup('plain');
    grow(join(dir, ...packKey(fixture.pack.id).split('/')), 1024 * 1024);
    const err = await refusal(pull(deps(bob), []));
    expect(err).toMatchObject({
      code: 'IO_ERROR',
      data: { key: packKey(fixture.pack.id), maxBytes: fixture.pack.size, tooLarge: true, versions: ['mail@v1'] },
    });
    await expectUnchanged(bob, before, events);
  });

  it('an encrypted remote bounds the ciphertext by the recorded size plus its overhead', async () => {
    const { dir, bob, before, events } = await setup('vault');
    grow(join(dir, ...vaultName(dir, packKey(fixture.pack.id)).split('/')), 1);
    const err = await refusal(pull(deps(bob), []));
    // Named by its logical key and plaintext bound: what the state recorded.
    expect(err).toMatchObject({
      code: 'IO_ERROR',
      data: { key: packKey(fixture.pack.id), maxBytes: fixture.pack.size, tooLarge: true },
    });
    await expectUnchanged(bob, before, events);
  });

  it('a state file past 256 MiB is refused without reading it', async () => {
    const { dir, bob, before, events } = await setup('plain');
    truncateSync(join(dir, 'meta', 'state.json'), MAX_STATE_BYTES + 1);
    const err = await refusal(pull(deps(bob), []));
    expect(err).toMatchObject({
      code: 'IO_ERROR',
      data: { key: 'meta/state.json', maxBytes: MAX_STATE_BYTES, tooLarge: true },
    });
    await expectUnchanged(bob, before, events);
  });

  it("a checkpoint note of a pushing workspace's audit bundle past 1 MiB is refused, and nothing of the bundle is kept", async () => {
    const { dir, bob, before, events } = await setup('plain');
    const [ws] = readdirSync(join(dir, 'audit'));
    const notes = readdirSync(join(dir, 'audit', ws!, 'checkpoints'));
    grow(join(dir, 'audit', ws!, 'checkpoints', notes[0]!), 1024 * 1024);
    const err = await refusal(pull(deps(bob), []));
    expect(err).toMatchObject({
      code: 'IO_ERROR',
      data: { key: `audit/${ws}/checkpoints/${notes[0]}`, maxBytes: 1024 * 1024, tooLarge: true },
    });
    await expectUnchanged(bob, before, events);
    const kept = join(bob.cairnDir, 'remote-audit', 'origin');
    expect(existsSync(kept) ? readdirSync(kept) : []).toEqual([]);
  });

  it("clone: a bundle's file list past 64 MiB is refused before it is read; nothing is imported", async () => {
    const dir = join(tmp(), 'plain');
    cpSync(fixture.plain, dir, { recursive: true });
    const [ws] = readdirSync(join(dir, 'audit'));
    truncateSync(join(dir, 'audit', ws!, 'files.json'), 64 * 1024 * 1024 + 1);
    const carol = await workspace('carol@example.com');
    const err = await refusal(cloneInto(deps(carol), { name: 'origin', config: { url: `file://${dir}` } }));
    expect(err).toMatchObject({
      code: 'IO_ERROR',
      data: { key: `audit/${ws}/files.json`, maxBytes: 64 * 1024 * 1024, tooLarge: true },
    });
    expect(await carol.meta.db.selectFrom('dataset_versions').select('id').execute()).toEqual([]);
  });
});

/**
 * A loopback posing as S3 in front of a copy of a folder remote: it answers GETs from the folder,
 * but the object named `endless` with a body that has no length and runs on (up to 64 MiB, so a
 * client without a bound ends too), counting what it managed to send before the client hung up.
 */
describe('attack: an S3 store that streams a pack without end', () => {
  const tmp = useTempDirs();
  const workspace = useWorkspaces(tmp);
  let loopback: Awaited<ReturnType<typeof startLoopback>>;
  let served: { root: string; endless: string; sent: Promise<number> } | null = null;
  const ENDLESS_CAP = 64 * 1024 * 1024;

  const endless = (res: ServerResponse, done: (n: number) => void) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    const pump = (): void => {
      while (!res.destroyed && sent < ENDLESS_CAP) {
        sent += chunk.length;
        if (!res.write(chunk)) return;
      }
      if (!res.destroyed) res.end();
    };
    res.on('drain', pump);
    res.on('close', () => done(sent));
    pump();
  };
  const answer = (req: IncomingMessage, res: ServerResponse, done: (n: number) => void) => {
    // Path-style: /<bucket>/<prefix>/<key>.
    const key = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
      .split('/')
      .slice(3)
      .join('/');
    if (served && key === served.endless) return endless(res, done);
    const file = served ? join(served.root, ...key.split('/')) : '';
    if (!served || !key || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'application/xml' });
      return res.end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>');
    }
    const body = readFileSync(file);
    res.writeHead(200, { 'content-length': String(body.length) });
    res.end(body);
  };

  let done: (n: number) => void = () => {};
  beforeAll(async () => {
    loopback = await startLoopback((req, res) => answer(req, res, (n) => done(n)));
  });
  afterAll(async () => {
    await loopback?.close();
  });

  const over = async (which: 'plain' | 'vault') => {
    const root = join(tmp(), which);
    cpSync(which === 'plain' ? fixture.plain : fixture.vault, root, { recursive: true });
    const key = packKey(fixture.pack.id);
    const sent = new Promise<number>((r) => (done = r));
    served = {
      root,
      endless:
        which === 'plain'
          ? key
          : new EncryptedBackend(
              new FsBackend(root),
              parseRemoteKey(readFileSync(fixture.keyFile, 'utf8')),
            ).physicalName(key),
      sent,
    };
    const bob = await workspace('bob@example.com');
    await addRemote(deps(bob), 'origin', 's3://bkt/p', {
      endpoint: loopback.url,
      ...(which === 'vault' ? { keyFile: fixture.keyFile } : {}),
    });
    const s3 = () =>
      new S3Backend({
        bucket: 'bkt',
        prefix: 'p',
        endpoint: loopback.url,
        forcePathStyle: true,
        credentials: { accessKeyId: 'k', secretAccessKey: 's' },
        baseDelayMs: 1,
        attempts: 2,
      });
    const d = { ...deps(bob), remotes: { ...deps(bob).remotes, backend: async () => s3() } };
    return { bob, d, sent, before: await snapshot(bob), events: await eventCount(bob) };
  };

  it.each(['plain', 'vault'] as const)('%s: the read stops near the recorded size, not at 2 GiB', async (which) => {
    const { bob, d, sent, before, events } = await over(which);
    const err = await refusal(pull(d, []));
    expect(err).toMatchObject({
      code: 'IO_ERROR',
      data: { key: packKey(fixture.pack.id), maxBytes: fixture.pack.size, tooLarge: true },
    });
    // What the store wrote before the client hung up: the bound and what the sockets buffer.
    expect(await sent).toBeLessThan(ENDLESS_CAP / 4);
    await expectUnchanged(bob, before, events);
  });
});
