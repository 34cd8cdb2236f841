// Issue 14, key custody: `cairn release keys rotate` hands releases over to a new key with a
// signed transition. Old releases keep verifying against the first key, on a machine that has
// nothing but the bundle and that key; a new release carries the chain; an interrupted rotation
// blocks releases until it is finished; the audit log still verifies.
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';

describe('cairn release keys rotate', () => {
  const tmp = useTempDirs();

  it('old bundles verify with the first key anywhere; new ones carry the chain; a crash mid-rotation is finished by running it again', () => {
    const root = tmp();
    const step = (args: string[]) => {
      const r = cli([...args, '--json'], { cwd: root });
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
      return r.json as Record<string, unknown>;
    };
    step(['init']);
    const data = join(root, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'd.csv'), 'x,y\n1,0\n');
    step(['data', 'add', data, '--name', 'toy']);
    writeFileSync(
      join(root, 'cairn.yaml'),
      'name: toy-train\ncommand: "mkdir -p $CAIRN_OUTPUT_DIR/m && echo weights > $CAIRN_OUTPUT_DIR/m/model.bin"\ninputs:\n  train: toy@v1\n',
    );
    const run = step(['run']) as { id: string };
    step(['model', 'register', 'toy', '--from-run', run.id]);
    const keys = join(root, '.cairn', 'keys');

    // Nothing to rotate before the first release made the key: a usage error, no event.
    const early = cli(['release', 'keys', 'rotate', '--json'], { cwd: root });
    expect(early.code).toBe(2);
    expect((early.json as { error: { code: string } }).error.code).toBe('USAGE');

    step(['release', 'create', 'toy@v1', '--out', join(root, 'rel1')]);
    const first = readFileSync(join(keys, 'release.pub'), 'utf8');
    const firstKeyFile = readFileSync(join(keys, 'release.key'), 'utf8');

    const r1 = step(['release', 'keys', 'rotate']) as { from: string; to: string; index: number; custody: string };
    expect(r1.custody).toBe('file');
    expect(r1.from).not.toBe(r1.to);
    const second = readFileSync(join(keys, 'release.pub'), 'utf8');
    expect(second).not.toBe(first);
    // The retired private key is gone: the new one took its file, readable by its owner only.
    expect(readFileSync(join(keys, 'release.key'), 'utf8')).not.toBe(firstKeyFile);
    expect(statSync(join(keys, 'release.key')).mode & 0o777).toBe(0o600);
    expect(existsSync(join(keys, 'release-chain.json'))).toBe(true);
    step(['release', 'create', 'toy@v1', '--out', join(root, 'rel2')]);
    expect(existsSync(join(root, 'rel2', 'key-chain.json'))).toBe(true);

    // Another machine: the bundles and the first key only, no workspace.
    const elsewhere = tmp();
    writeFileSync(join(elsewhere, 'first.pem'), first);
    writeFileSync(join(elsewhere, 'second.pem'), second);
    cpSync(join(root, 'rel1'), join(elsewhere, 'rel1'), { recursive: true });
    cpSync(join(root, 'rel2'), join(elsewhere, 'rel2'), { recursive: true });
    cpSync(join(keys, 'release-chain.json'), join(elsewhere, 'release-chain.json'));
    const verify = (dir: string, key: string, more: string[] = []) =>
      cli(['release', 'verify', dir, '--key', key, ...more, '--json'], { cwd: elsewhere });
    for (const dir of ['rel1', 'rel2']) {
      const v = verify(dir, 'first.pem');
      expect(v.code, `${dir}: ${v.stdout}${v.stderr}`).toBe(0);
      expect(v.json).toMatchObject({ ok: true, keyTrusted: true });
    }
    expect((verify('rel2', 'first.pem').json as { keyChain: unknown[] }).keyChain).toHaveLength(2);
    const human = cli(['release', 'verify', 'rel2', '--key', 'first.pem'], { cwd: elsewhere });
    expect(human.stdout).toContain('reached through 1 release key transition(s)');
    // Pinned the new key: the old bundle needs the published chain to reach back to its key.
    expect(verify('rel1', 'second.pem').code).toBe(1);
    expect(verify('rel1', 'second.pem', ['--key-chain', 'release-chain.json']).code).toBe(0);
    // A malformed chain file is a problem reported by name, never a stack trace.
    writeFileSync(join(elsewhere, 'junk.json'), '{"format":"nope"}');
    const junk = verify('rel1', 'first.pem', ['--key-chain', 'junk.json']);
    expect(junk.code).toBe(1);
    expect(junk.stdout + junk.stderr).toContain('cairn.release-key-chain/v1');
    expect(junk.stderr).not.toMatch(/\n\s+at /);

    // A crash after the log recorded a second rotation, before the key was put in place: the
    // next key is on disk, the old one still in release.key.
    const secondKeyFile = readFileSync(join(keys, 'release.key'), 'utf8');
    const r2 = step(['release', 'keys', 'rotate']) as { to: string; index: number };
    writeFileSync(join(keys, 'release.next.key'), readFileSync(join(keys, 'release.key')), { mode: 0o600 });
    writeFileSync(join(keys, 'release.key'), secondKeyFile, { mode: 0o600 });
    writeFileSync(join(keys, 'release.pub'), second);
    const blocked = cli(['release', 'create', 'toy@v1', '--out', join(root, 'rel-blocked'), '--json'], { cwd: root });
    expect(blocked.code).toBe(1);
    expect((blocked.json as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('rotation was interrupted'),
    });
    expect(existsSync(join(root, 'rel-blocked', 'manifest.json'))).toBe(false);
    const resumed = step(['release', 'keys', 'rotate']) as { to: string; index: number; resumed: boolean };
    expect(resumed).toMatchObject({ resumed: true, to: r2.to, index: r2.index });
    expect(existsSync(join(keys, 'release.next.key'))).toBe(false);
    step(['release', 'create', 'toy@v1', '--out', join(root, 'rel3')]);
    cpSync(join(root, 'rel3'), join(elsewhere, 'rel3'), { recursive: true });
    const v3 = verify('rel3', 'first.pem');
    expect(v3.code, v3.stdout + v3.stderr).toBe(0);
    expect((v3.json as { keyChain: unknown[] }).keyChain).toHaveLength(3);

    // A next key the log never named (a crash before the event) is discarded, and a fresh
    // rotation recorded.
    const stray = `${generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()}${generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()}`;
    writeFileSync(join(keys, 'release.next.key'), stray, { mode: 0o600 });
    const fresh = step(['release', 'keys', 'rotate']) as { resumed: boolean; from: string };
    expect(fresh.resumed).toBe(false);
    expect(fresh.from).toBe(resumed.to);
    expect(readFileSync(join(keys, 'release.key'), 'utf8')).not.toBe(stray);

    // The log, with its release transitions among the audit events, still verifies.
    step(['audit', 'verify']);
    const log = cli(['audit', 'log', '--action', 'keys.rotate', '--json'], { cwd: root });
    expect((log.json as unknown[]).length).toBe(3);
  });
});
