// Issue 14, "Key custody": the audit key can live in a PKCS #11 token (SoftHSM2 here), generated
// inside it, sensitive and never extractable; checkpoints are signed by the token and verify with
// the public key alone. Skipped loudly without SoftHSM2/OpenSC/pkcs11js; a failure under
// CAIRN_REQUIRE_SERVICES=1 (scripts/install-key-tools.sh installs them).
import { execFileSync, spawnSync } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { keyId, openCheckpoint, publicKeyFromPem, publicKeyFromRaw, rawPublicKey } from '../../src/audit/note/index.js';
import { cli } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';

const MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const here = dirname(fileURLToPath(import.meta.url));
const PIN = '246810';

function missing(): string | null {
  if (spawnSync('softhsm2-util', ['--version']).status !== 0) return 'softhsm2-util';
  if (spawnSync('pkcs11-tool', ['--help']).error) return 'pkcs11-tool (opensc)';
  if (!existsSync(MODULE)) return MODULE;
  try {
    createRequire(import.meta.url)('pkcs11js');
  } catch {
    return 'the pkcs11js package';
  }
  return null;
}
const absent = missing();
if (absent) {
  const msg = `${absent} is missing: the PKCS #11 key custody tests cannot run (scripts/install-key-tools.sh)`;
  if (process.env.CAIRN_REQUIRE_SERVICES === '1') throw new Error(msg);
  console.warn(`SKIPPED: ${msg}`);
}

/** A fresh SoftHSM2 token in its own folder, with an Ed25519 key pair generated inside it. */
function makeToken(dir: string, label = 'cairn', keyLabel = 'audit') {
  mkdirSync(join(dir, 'tokens'));
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', PIN, '--so-pin', '13579'], {
    env,
    stdio: 'pipe',
  });
  const tool = (...args: string[]) =>
    execFileSync('pkcs11-tool', ['--module', MODULE, '--token-label', label, '--login', '--pin', PIN, ...args], {
      env,
      stdio: 'pipe',
    });
  tool(
    '--keypairgen',
    '--key-type',
    'EC:edwards25519',
    '--label',
    keyLabel,
    '--id',
    '01',
    '--usage-sign',
    '--sensitive',
  );
  // The release key pair (Ed25519) and the OMS key pair (P-256), for the release test.
  for (const [type, label, id] of [
    ['EC:edwards25519', 'release', '02'],
    ['EC:prime256v1', 'oms', '03'],
  ])
    tool('--keypairgen', '--key-type', type!, '--label', label!, '--id', id!, '--usage-sign', '--sensitive');
  return {
    env: { ...env, CAIRN_PKCS11_PIN: PIN },
    conf,
    tool,
    config: { module: MODULE, tokenLabel: label, keyLabel, pinEnv: 'CAIRN_PKCS11_PIN' },
  };
}

describe.skipIf(absent !== null)('the audit key in a PKCS #11 token (SoftHSM2)', () => {
  const tmp = useTempDirs();
  const init = (cwd: string, env: NodeJS.ProcessEnv, labels = ['--token-label', 'cairn', '--key-label', 'audit']) =>
    cli(['init', '--pkcs11', MODULE, ...labels, '--json'], { cwd, env });

  it('the private key never leaves the token: no key file, checkpoints verify with the public key only', () => {
    const t = makeToken(tmp());
    // The token reports the private key sensitive and never extractable.
    const listing = t.tool('--list-objects', '--type', 'privkey').toString();
    expect(listing).toMatch(/never extractable/);
    expect(listing).toMatch(/sensitive/);

    const root = tmp();
    const made = init(root, t.env);
    expect(made.code, made.stderr).toBe(0);
    expect(existsSync(join(root, '.cairn', 'keys', 'signing.key'))).toBe(false);
    const src = tmp();
    writeFileSync(join(src, 'a.csv'), 'x\n1\n');
    const add = cli(['data', 'add', src, '--name', 'toy'], { cwd: root, env: t.env });
    expect(add.code, add.stderr).toBe(0);

    // The public key as the token itself gives it (read by OpenSC) is the one in signing.pub.
    const pem = t.tool('--read-object', '--type', 'pubkey', '--label', 'audit');
    const tokenKey = rawPublicKey(createPublicKey(pem.toString('utf8')));
    const pub = publicKeyFromPem(readFileSync(join(root, '.cairn', 'keys', 'signing.pub'), 'utf8'));
    expect(rawPublicKey(pub).equals(tokenKey)).toBe(true);

    // The kept checkpoint verifies with that public key and nothing else.
    const note = readFileSync(join(root, '.cairn', 'keys', 'checkpoint'), 'utf8');
    const origin = note.split('\n')[0]!;
    const opened = openCheckpoint(note, [
      { name: origin, keyId: keyId(origin, tokenKey), publicKey: publicKeyFromRaw(tokenKey) },
    ]);
    expect(opened.verified).toHaveLength(1);
    expect(opened.checkpoint.size).toBeGreaterThanOrEqual(2);
    const sig = Buffer.from(note.trimEnd().split('\n').at(-1)!.split(' ').at(-1)!, 'base64').subarray(4);
    const body = note.slice(0, note.indexOf('\n\n') + 1);
    expect(verify(null, Buffer.from(body), publicKeyFromRaw(tokenKey), sig)).toBe(true);

    // `cairn audit verify` recomputes everything with the public key.
    const v = cli(['audit', 'verify', '--json'], { cwd: root, env: t.env });
    expect(v.code, v.stderr).toBe(0);
    // Without the PIN nothing new can be signed: a write fails clearly and names the variable.
    writeFileSync(join(src, 'b.csv'), 'y\n2\n');
    const noPin = cli(['data', 'add', src, '--name', 'toy', '--json'], {
      cwd: root,
      env: { ...t.env, CAIRN_PKCS11_PIN: '' },
    });
    expect(noPin.code).toBe(1);
    expect(JSON.stringify(noPin.json)).toContain('CAIRN_PKCS11_PIN');
  });

  it('a wrong PIN, an unknown token or key label, no labels: init fails with a clear error and leaves nothing behind', () => {
    const t = makeToken(tmp());
    for (const [env, labels, code] of [
      [{ ...t.env, CAIRN_PKCS11_PIN: '000000' }, undefined, 'PERMISSION_DENIED'],
      [t.env, ['--token-label', 'nope', '--key-label', 'audit'], 'CONFIG_INVALID'],
      [t.env, ['--token-label', 'cairn', '--key-label', 'nope'], 'CONFIG_INVALID'],
      [{ ...t.env, CAIRN_PKCS11_PIN: '' }, undefined, 'CONFIG_INVALID'],
      [t.env, ['--token-label', 'cairn'], 'USAGE'],
    ] as const) {
      const root = tmp();
      const r = init(root, env, labels ? [...labels] : undefined);
      expect(r.code, r.stdout).not.toBe(0);
      expect((r.json as { error: { code: string } }).error.code).toBe(code);
      expect(existsSync(join(root, '.cairn'))).toBe(false);
    }
    const ok = cli(['init', '--pkcs11', MODULE, '--token-label', 'cairn', '--key-label', 'audit'], {
      cwd: tmp(),
      env: t.env,
    });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('(in PKCS #11 token "cairn")');
  });

  it('the release key in the token signs releases: DSSE with Ed25519, model.sig with P-256; no key file exists', () => {
    const t = makeToken(tmp());
    const root = tmp();
    const made = init(root, t.env, [
      '--token-label',
      'cairn',
      '--key-label',
      'audit',
      '--release-key-label',
      'release',
      '--oms-key-label',
      'oms',
    ]);
    expect(made.code, made.stdout + made.stderr).toBe(0);
    const data = join(root, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'd.csv'), 'x,y\n1,0\n');
    const step = (args: string[]) => {
      const r = cli([...args, '--json'], { cwd: root, env: t.env });
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
      return r.json as Record<string, unknown>;
    };
    step(['data', 'add', data, '--name', 'toy']);
    writeFileSync(
      join(root, 'cairn.yaml'),
      'name: toy-train\ncommand: "mkdir -p $CAIRN_OUTPUT_DIR/m && echo weights > $CAIRN_OUTPUT_DIR/m/model.bin"\ninputs:\n  train: toy@v1\n',
    );
    const run = step(['run']) as { id: string };
    step(['model', 'register', 'toy', '--from-run', run.id]);
    step(['release', 'create', 'toy@v1', '--out', join(root, 'rel')]);

    const keys = join(root, '.cairn', 'keys');
    expect(existsSync(join(keys, 'release.key'))).toBe(false);
    // OpenSC writes an Ed25519 public key as PEM and an EC one as DER SubjectPublicKeyInfo.
    const tokenPem = (label: string) => {
      const out = t.tool('--read-object', '--type', 'pubkey', '--label', label);
      return out.subarray(0, 5).toString() === '-----'
        ? createPublicKey(out.toString('utf8'))
        : createPublicKey({ key: out, format: 'der', type: 'spki' });
    };
    expect(createPublicKey(readFileSync(join(keys, 'release.pub'), 'utf8')).equals(tokenPem('release'))).toBe(true);
    expect(createPublicKey(readFileSync(join(keys, 'release-oms.pub'), 'utf8')).equals(tokenPem('oms'))).toBe(true);
    const v = cli(
      [
        'release',
        'verify',
        join(root, 'rel'),
        '--key',
        join(keys, 'release.pub'),
        '--oms-key',
        join(keys, 'release-oms.pub'),
        '--json',
      ],
      { cwd: root },
    );
    expect(v.code, v.stderr).toBe(0);
    expect(v.json).toMatchObject({ ok: true, keyTrusted: true, omsChecked: true, omsKeyTrusted: true });
    // The independent OMS verifier (test/oms) accepts the token's P-256 signature too.
    if (spawnSync('python3', ['-c', 'import cryptography']).status === 0) {
      const rel = join(root, 'rel');
      const oms = spawnSync(
        'python3',
        [
          join(here, '..', 'oms', 'verify_oms.py'),
          join(rel, 'model'),
          join(rel, 'model.sig'),
          join(keys, 'release-oms.pub'),
        ],
        { encoding: 'utf8' },
      );
      expect(oms.stdout).toBe('ok: 1 files\n');
    }
    // The log announced the token's key before it signed.
    const log = cli(['audit', 'log', '--json'], { cwd: root });
    expect(log.stdout).toContain('keys.create');
  });

  it('rotates the audit key from a file into the token and from one token key to another; verify follows the chain', () => {
    const t = makeToken(tmp());
    for (const [label, id] of [
      ['audit-2', '04'],
      ['audit-3', '05'],
    ])
      t.tool(
        '--keypairgen',
        '--key-type',
        'EC:edwards25519',
        '--label',
        label!,
        '--id',
        id!,
        '--usage-sign',
        '--sensitive',
      );
    const root = tmp();
    expect(cli(['init'], { cwd: root, env: t.env }).code).toBe(0);
    const src = tmp();
    writeFileSync(join(src, 'a.csv'), 'x\n1\n');
    expect(cli(['data', 'add', src, '--name', 'toy'], { cwd: root, env: t.env }).code).toBe(0);
    const rotate = (label: string) =>
      cli(['audit', 'keys', 'rotate', '--pkcs11', MODULE, '--token-label', 'cairn', '--key-label', label, '--json'], {
        cwd: root,
        env: t.env,
      });
    const first = rotate('audit-2');
    expect(first.code, first.stderr).toBe(0);
    expect(first.json).toMatchObject({ custody: 'pkcs11', resumed: false });
    // Nothing readable is left of the file key.
    expect(existsSync(join(root, '.cairn', 'keys', 'signing.key'))).toBe(false);
    const tokenKey = (label: string) =>
      rawPublicKey(createPublicKey(t.tool('--read-object', '--type', 'pubkey', '--label', label).toString('utf8')));
    const pub = publicKeyFromPem(readFileSync(join(root, '.cairn', 'keys', 'signing.pub'), 'utf8'));
    expect(rawPublicKey(pub).equals(tokenKey('audit-2'))).toBe(true);
    writeFileSync(join(src, 'b.csv'), 'y\n2\n');
    expect(cli(['data', 'add', src, '--name', 'toy'], { cwd: root, env: t.env }).code).toBe(0);
    // Handing over to a key already retired is refused, as is rotating to the current key.
    expect(rotate('audit-2').code).not.toBe(0);
    const second = rotate('audit-3');
    expect(second.code, second.stderr).toBe(0);
    // The kept checkpoint is signed by the token's newest key.
    const note = readFileSync(join(root, '.cairn', 'keys', 'checkpoint'), 'utf8');
    const origin = note.split('\n')[0]!;
    const k3 = tokenKey('audit-3');
    expect(
      openCheckpoint(note, [{ name: origin, keyId: keyId(origin, k3), publicKey: publicKeyFromRaw(k3) }]).verified,
    ).toHaveLength(1);
    const v = cli(['audit', 'verify', '--json'], { cwd: root, env: t.env });
    expect(v.code, v.stderr).toBe(0);
    expect((v.json as { keys: unknown[] }).keys).toHaveLength(3);
    // Verification needs no PIN: only public keys.
    const noPin = cli(['audit', 'verify', '--json'], { cwd: root, env: { ...t.env, CAIRN_PKCS11_PIN: '' } });
    expect(noPin.code, noPin.stderr).toBe(0);
  });

  it('rotates the release key from a file into the token; releases signed before and after verify with the first key', () => {
    const t = makeToken(tmp());
    const root = tmp();
    expect(cli(['init'], { cwd: root, env: t.env }).code).toBe(0);
    const step = (args: string[], env: NodeJS.ProcessEnv = t.env) => {
      const r = cli([...args, '--json'], { cwd: root, env });
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
      return r.json as Record<string, unknown>;
    };
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
    step(['release', 'create', 'toy@v1', '--out', join(root, 'rel1')]);
    const keys = join(root, '.cairn', 'keys');
    const first = join(tmp(), 'first.pem');
    writeFileSync(first, readFileSync(join(keys, 'release.pub')));
    const rotate = (extra: string[] = [], env: NodeJS.ProcessEnv = t.env) =>
      cli(
        [
          'release',
          'keys',
          'rotate',
          '--pkcs11',
          MODULE,
          '--token-label',
          'cairn',
          '--key-label',
          'release',
          '--oms-key-label',
          'oms',
          ...extra,
          '--json',
        ],
        { cwd: root, env },
      );
    // Without the PIN nothing is recorded and nothing stays pending.
    const noPin = rotate([], { ...t.env, CAIRN_PKCS11_PIN: '' });
    expect(noPin.code).not.toBe(0);
    expect(existsSync(join(keys, 'release-token.next.json'))).toBe(false);
    const r = rotate();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json).toMatchObject({ custody: 'pkcs11', resumed: false });
    // Nothing readable is left of the file key; the token's keys are published.
    expect(existsSync(join(keys, 'release.key'))).toBe(false);
    expect(existsSync(join(keys, 'release-token.json'))).toBe(true);
    const tokenEd = createPublicKey(t.tool('--read-object', '--type', 'pubkey', '--label', 'release').toString('utf8'));
    expect(createPublicKey(readFileSync(join(keys, 'release.pub'), 'utf8')).equals(tokenEd)).toBe(true);
    // The current key again: refused.
    expect(rotate().code).not.toBe(0);
    step(['release', 'create', 'toy@v1', '--out', join(root, 'rel2')]);
    for (const rel of ['rel1', 'rel2']) {
      const v = cli(['release', 'verify', join(root, rel), '--key', first, '--json'], { cwd: tmp() });
      expect(v.code, `${rel}: ${v.stdout}${v.stderr}`).toBe(0);
      expect(v.json).toMatchObject({ ok: true, keyTrusted: true, omsChecked: true, omsKeyTrusted: true });
    }
    step(['audit', 'verify']);
  });
});
