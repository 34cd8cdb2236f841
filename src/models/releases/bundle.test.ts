import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  formatVerifierKey,
  generateSigningKeyPair,
  publicKeyToPem,
  signerFromPrivateKey,
} from '../../audit/note/index.js';
import { canonicalJson } from '../../core/canonical-json.js';
import { isCairnError } from '../../core/errors.js';
import { useTempDirs } from '../../test-support/temp.js';
import { verifyReleaseBundle, writeReleaseBundle, type ReleaseVerifyReport } from './bundle.js';
import { IN_TOTO_PAYLOAD_TYPE, keyIdOf, parseEnvelope, serializeEnvelope, signEnvelope } from './dsse.js';
import { H, makeProof, ORIGIN, resignManifest, sampleFacts, writeFixture } from './fixtures.case.js';
import { buildStatement } from './statement.js';
import { VERIFY_PY } from './verify-py.js';

const tmp = useTempDirs();

function codes(r: ReleaseVerifyReport): Array<[string, string | undefined]> {
  return r.problems.map((p) => [p.code, p.file]);
}

async function refusal(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return null;
}

function listFiles(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel), { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? listFiles(dir, join(rel, d.name)) : [join(rel, d.name)]))
    .sort();
}

describe('writeReleaseBundle / verifyReleaseBundle', () => {
  it('round trip: writes the documented layout and verifies, with and without trusted keys', async () => {
    const f = await writeFixture(tmp);
    expect(listFiles(f.out)).toEqual(
      [
        'README.md',
        'evaluations/holdout.json',
        'manifest.dsse.json',
        'manifest.json',
        'model.sig',
        'model/config/tokenizer.json',
        'model/weights.bin',
        'model-card.json',
        'model-card.md',
        'proofs/model-registered.json',
        'proofs/run-finished.json',
        'provenance.dsse.json',
        'public-key.pem',
        'public-key-oms.pem',
        'public-key.vkey',
      ].sort(),
    );
    // The manifest is canonical JSON and lists every file but itself and its signature.
    const manifestText = readFileSync(join(f.out, 'manifest.json'), 'utf8');
    const manifest = JSON.parse(manifestText) as {
      format: string;
      model: unknown;
      files: Array<{ path: string; sha256: string; size: number }>;
    };
    expect(canonicalJson(manifest)).toBe(manifestText);
    expect(manifest.format).toBe('cairn.release/v1');
    expect(manifest.model).toEqual({ name: 'churn', version: 3 });
    expect(manifest.files.map((x) => x.path)).toHaveLength(13);
    const weights = readFileSync(join(f.out, 'model', 'weights.bin'));
    expect(manifest.files.find((x) => x.path === 'model/weights.bin')).toEqual({
      path: 'model/weights.bin',
      sha256: createHash('sha256').update(weights).digest('hex'),
      size: weights.length,
    });

    const trusted = await verifyReleaseBundle(f.out, {
      trustedPublicKeyPem: f.publicKeyPem,
      trustedVerifierKey: f.verifierKey,
    });
    expect(trusted.problems).toEqual([]);
    expect(trusted).toMatchObject({
      ok: true,
      keyTrusted: true,
      proofsKeyTrusted: true,
      omsChecked: true,
      omsKeyTrusted: true,
      filesChecked: 13,
      proofsChecked: 2,
      model: { name: 'churn', version: 3 },
    });
    expect(trusted.statement?.subject.map((s) => s.name)).toEqual(['config/tokenizer.json', 'weights.bin']);
    expect(trusted.keyid).toBe(keyIdOf(f.privateKey));

    // The release key alone also vouches for the audit and OMS keys: the manifest it signed pins them.
    expect(await verifyReleaseBundle(f.out, { trustedPublicKeyPem: f.publicKeyPem })).toMatchObject({
      ok: true,
      keyTrusted: true,
      proofsKeyTrusted: true,
      omsKeyTrusted: true,
    });
    // Without a trusted key it is only self-consistent, and says so.
    expect(await verifyReleaseBundle(f.out)).toMatchObject({
      ok: true,
      keyTrusted: false,
      proofsKeyTrusted: false,
      omsChecked: true,
      omsKeyTrusted: false,
    });
  });

  it('the signed statement carries the run facts and the digests of the copied files', async () => {
    const f = await writeFixture(tmp);
    const env = parseEnvelope(readFileSync(join(f.out, 'provenance.dsse.json'), 'utf8'));
    expect(env.payloadType).toBe(IN_TOTO_PAYLOAD_TYPE);
    expect(env.signatures[0]!.keyid).toBe(keyIdOf(f.privateKey));
    const statement = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')) as ReturnType<
      typeof buildStatement
    >;
    const digestOf = (p: string) =>
      createHash('sha256')
        .update(readFileSync(join(f.out, 'model', p)))
        .digest('hex');
    expect(statement).toEqual(
      buildStatement({
        ...f.options.statementFacts,
        files: [
          { path: 'weights.bin', sha256: digestOf('weights.bin') },
          { path: 'config/tokenizer.json', sha256: digestOf('config/tokenizer.json') },
        ],
      }),
    );
  });

  it('a modified model file is named; re-signing the manifest cannot hide it from the signed statement', async () => {
    const f = await writeFixture(tmp);
    const p = join(f.out, 'model', 'weights.bin');
    const bytes = readFileSync(p);
    bytes[1234] = bytes[1234]! ^ 0xff;
    writeFileSync(p, bytes);
    const r = await verifyReleaseBundle(f.out, { trustedPublicKeyPem: f.publicKeyPem });
    expect(r.ok).toBe(false);
    expect(codes(r)).toEqual([['file-modified', 'model/weights.bin']]);
    expect(r.problems[0]!.message).toMatch(/model\/weights.bin was modified: SHA-256 [0-9a-f]{64}, the manifest says/);

    resignManifest(f.out, f.privateKey);
    const again = await verifyReleaseBundle(f.out, { trustedPublicKeyPem: f.publicKeyPem });
    // The OMS signature names the same lie: it too signed the old digest.
    expect(codes(again)).toEqual([
      ['subject-mismatch', 'model/weights.bin'],
      ['oms-invalid', 'model.sig'],
    ]);
  });

  it('a file added to model/ (or anywhere) is not ok, and is named', async () => {
    const f = await writeFixture(tmp);
    writeFileSync(join(f.out, 'model', 'extra.bin'), 'payload');
    mkdirSync(join(f.out, 'model', 'sub'));
    writeFileSync(join(f.out, 'model', 'sub', 'more.py'), 'import os');
    writeFileSync(join(f.out, 'evaluations', 'rosy.json'), '{"auc":0.99}');
    const r = await verifyReleaseBundle(f.out, { trustedPublicKeyPem: f.publicKeyPem });
    expect(r.ok).toBe(false);
    expect(codes(r).sort()).toEqual([
      ['file-unlisted', 'evaluations/rosy.json'],
      ['file-unlisted', 'model/extra.bin'],
      ['file-unlisted', 'model/sub/more.py'],
    ]);
    // Adding it to the manifest and re-signing still leaves it outside the signed statement.
    resignManifest(f.out, f.privateKey, (m) =>
      m.files.push({ path: 'model/extra.bin', sha256: createHash('sha256').update('payload').digest('hex'), size: 7 }),
    );
    rmSync(join(f.out, 'model', 'sub'), { recursive: true });
    rmSync(join(f.out, 'evaluations', 'rosy.json'));
    expect(codes(await verifyReleaseBundle(f.out, { trustedPublicKeyPem: f.publicKeyPem }))).toEqual([
      ['subject-mismatch', 'model/extra.bin'],
      ['oms-invalid', 'model.sig'],
    ]);
  });

  it('a forged provenance signature (a flipped byte) fails, naming provenance.dsse.json', async () => {
    const f = await writeFixture(tmp);
    const path = join(f.out, 'provenance.dsse.json');
    const env = parseEnvelope(readFileSync(path, 'utf8'));
    const sig = Buffer.from(env.signatures[0]!.sig, 'base64');
    sig[5] = sig[5]! ^ 0x01;
    writeFileSync(
      path,
      serializeEnvelope({ ...env, signatures: [{ keyid: env.signatures[0]!.keyid, sig: sig.toString('base64') }] }),
    );
    // The manifest re-signed so that the signature is the only thing wrong.
    resignManifest(f.out, f.privateKey);
    for (const opts of [{ trustedPublicKeyPem: f.publicKeyPem }, {}]) {
      const r = await verifyReleaseBundle(f.out, opts);
      expect(r.ok).toBe(false);
      expect(codes(r)).toEqual([['signature-invalid', 'provenance.dsse.json']]);
      expect(r.statement).toBeNull();
    }
  });

  it('a provenance re-signed with another key fails, even when it keeps the original keyid', async () => {
    const f = await writeFixture(tmp);
    const other = generateSigningKeyPair();
    const path = join(f.out, 'provenance.dsse.json');
    const env = parseEnvelope(readFileSync(path, 'utf8'));
    const forged = signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(env.payload, 'base64'), other.privateKey);
    writeFileSync(
      path,
      serializeEnvelope({
        ...forged,
        signatures: [{ keyid: env.signatures[0]!.keyid, sig: forged.signatures[0]!.sig }],
      }),
    );
    resignManifest(f.out, f.privateKey);
    expect(codes(await verifyReleaseBundle(f.out, { trustedPublicKeyPem: f.publicKeyPem }))).toEqual([
      ['signature-invalid', 'provenance.dsse.json'],
    ]);
  });

  it('a whole bundle re-signed with another key and its public-key.pem swapped fails against the trusted key', async () => {
    const f = await writeFixture(tmp);
    const other = generateSigningKeyPair();
    const signer = signerFromPrivateKey(ORIGIN, other.privateKey);
    const entries = ['{"index":0}', '{"index":1}'];
    const out = join(tmp(), 'forged');
    await writeReleaseBundle(out, {
      ...f.options,
      privateKey: other.privateKey,
      publicKeyPem: publicKeyToPem(other.publicKey),
      verifierKey: formatVerifierKey(ORIGIN, signer.rawPublicKey),
      auditProofs: [{ name: 'run-finished', text: makeProof(signer, entries, 0) }],
    });
    const r = await verifyReleaseBundle(out, {
      trustedPublicKeyPem: f.publicKeyPem,
      trustedVerifierKey: f.verifierKey,
    });
    expect(r.ok).toBe(false);
    expect(codes(r)).toEqual([
      ['key-mismatch', 'public-key.pem'],
      ['signature-invalid', 'manifest.dsse.json'],
      ['signature-invalid', 'provenance.dsse.json'],
      ['key-mismatch', 'public-key.vkey'],
      ['proof-invalid', 'proofs/run-finished.json'],
    ]);
    // Checked only against itself it is consistent: that is why the trusted key matters.
    expect(await verifyReleaseBundle(out)).toMatchObject({ ok: true, keyTrusted: false });
  });

  it('a statement whose subject digest does not match the manifest is not ok', async () => {
    const f = await writeFixture(tmp);
    const tokenizer = createHash('sha256')
      .update(readFileSync(join(f.out, 'model', 'config', 'tokenizer.json')))
      .digest('hex');
    const lying = buildStatement({
      ...f.options.statementFacts,
      files: [
        { path: 'weights.bin', sha256: H('9') },
        { path: 'config/tokenizer.json', sha256: tokenizer },
        { path: 'ghost.bin', sha256: H('8') },
      ],
    });
    writeFileSync(
      join(f.out, 'provenance.dsse.json'),
      serializeEnvelope(signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(lying)), f.privateKey)),
    );
    resignManifest(f.out, f.privateKey);
    const r = await verifyReleaseBundle(f.out, { trustedPublicKeyPem: f.publicKeyPem });
    expect(r.ok).toBe(false);
    expect(codes(r)).toEqual([
      ['subject-mismatch', 'model/ghost.bin'],
      ['subject-mismatch', 'model/weights.bin'],
    ]);
    expect(r.problems[1]!.message).toContain(`SHA-256 ${H('9')}`);
  });

  it('a manifest edited without its signature fails on manifest.dsse.json', async () => {
    const f = await writeFixture(tmp);
    const path = join(f.out, 'manifest.json');
    const m = JSON.parse(readFileSync(path, 'utf8')) as {
      files: Array<{ path: string; sha256: string; size: number }>;
    };
    writeFileSync(join(f.out, 'model-card.md'), '# churn v3\n\nSafe for every use.\n');
    const card = m.files.find((x) => x.path === 'model-card.md')!;
    card.sha256 = createHash('sha256')
      .update(readFileSync(join(f.out, 'model-card.md')))
      .digest('hex');
    card.size = readFileSync(join(f.out, 'model-card.md')).length;
    writeFileSync(path, canonicalJson(m));
    const r = await verifyReleaseBundle(f.out, { trustedPublicKeyPem: f.publicKeyPem });
    expect(codes(r)).toEqual([['signature-invalid', 'manifest.dsse.json']]);
  });

  it('a missing file is named', async () => {
    const f = await writeFixture(tmp);
    rmSync(join(f.out, 'evaluations', 'holdout.json'));
    expect(codes(await verifyReleaseBundle(f.out, { trustedPublicKeyPem: f.publicKeyPem }))).toEqual([
      ['file-missing', 'evaluations/holdout.json'],
    ]);
  });

  it('path traversal: refused on write, and a manifest naming ../, / or NUL is refused on verify without reading outside', async () => {
    const f = await writeFixture(tmp);
    const base = tmp();
    for (const path of ['../evil.bin', '/etc/passwd', 'a/../../b', 'a\0b', 'a\\..\\b', '', 'a//b', './a']) {
      const dir = join(base, `w${Math.random().toString(36).slice(2)}`);
      const err = await refusal(
        writeReleaseBundle(dir, { ...f.options, files: [{ path, absPath: f.options.files[0]!.absPath }] }),
      );
      expect(isCairnError(err, 'PATH_UNSAFE'), `${JSON.stringify(path)}: ${String(err)}`).toBe(true);
      expect(existsSync(dir)).toBe(false);
    }
    expect(
      isCairnError(
        await refusal(
          writeReleaseBundle(join(base, 'e'), { ...f.options, evaluations: [{ name: '../x', report: {} }] }),
        ),
        'PATH_UNSAFE',
      ),
    ).toBe(true);
    expect(
      isCairnError(
        await refusal(
          writeReleaseBundle(join(base, 'p'), { ...f.options, auditProofs: [{ name: 'a/b', text: '{}' }] }),
        ),
        'PATH_UNSAFE',
      ),
    ).toBe(true);

    // A verifier given such a manifest (validly signed!) names the entry and never opens it.
    writeFileSync(join(dirname(f.out), 'outside.bin'), 'secret');
    const outsideDigest = createHash('sha256').update('secret').digest('hex');
    resignManifest(f.out, f.privateKey, (m) => {
      m.files.push({ path: '../outside.bin', sha256: outsideDigest, size: 6 });
      m.files.push({ path: '/etc/passwd', sha256: H('0'), size: 1 });
      m.files.push({ path: 'model/a\0b', sha256: H('0'), size: 1 });
    });
    const r = await verifyReleaseBundle(f.out, { trustedPublicKeyPem: f.publicKeyPem });
    expect(r.ok).toBe(false);
    expect(codes(r)).toEqual([
      ['path-unsafe', '../outside.bin'],
      ['path-unsafe', '/etc/passwd'],
      ['path-unsafe', 'model/a\0b'],
    ]);
    expect(r.problems.map((p) => p.message)).toEqual([
      'refusing manifest path "../outside.bin": it climbs out with ..',
      'refusing manifest path "/etc/passwd": it is absolute',
      'refusing manifest path "model/a\\u0000b": it contains a NUL byte',
    ]);
    expect(r.filesChecked).toBe(13);
  });

  it('a symbolic link in the bundle is refused, not followed', async () => {
    const f = await writeFixture(tmp);
    const p = join(f.out, 'model', 'weights.bin');
    const copy = join(tmp(), 'weights.bin');
    writeFileSync(copy, readFileSync(p));
    rmSync(p);
    symlinkSync(copy, p);
    const r = await verifyReleaseBundle(f.out, { trustedPublicKeyPem: f.publicKeyPem });
    expect(codes(r)).toEqual([['path-unsafe', 'model/weights.bin']]);
    expect(r.problems[0]!.message).toContain('is a symbolic link');
    // A linked directory is refused too.
    const g = await writeFixture(tmp);
    const elsewhere = join(tmp(), 'config');
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, 'tokenizer.json'), readFileSync(join(g.out, 'model', 'config', 'tokenizer.json')));
    rmSync(join(g.out, 'model', 'config'), { recursive: true });
    symlinkSync(elsewhere, join(g.out, 'model', 'config'));
    const r2 = await verifyReleaseBundle(g.out, { trustedPublicKeyPem: g.publicKeyPem });
    expect(codes(r2)).toEqual([
      ['path-unsafe', 'model/config/tokenizer.json'],
      ['file-unlisted', 'model/config'],
    ]);
  });

  it('audit proofs are checked with checkProofFile: a tampered entry or an untrusted log key fails', async () => {
    const f = await writeFixture(tmp);
    const path = join(f.out, 'proofs', 'run-finished.json');
    const proof = JSON.parse(readFileSync(path, 'utf8')) as { entry: string };
    proof.entry = proof.entry.replace('run.finish', 'run.finish ');
    writeFileSync(path, JSON.stringify(proof));
    resignManifest(f.out, f.privateKey);
    const r = await verifyReleaseBundle(f.out, { trustedPublicKeyPem: f.publicKeyPem });
    expect(codes(r)).toEqual([['proof-invalid', 'proofs/run-finished.json']]);
    expect(r.problems[0]!.message).toContain('the entry does not hash to the stated leaf');

    const g = await writeFixture(tmp);
    const stranger = signerFromPrivateKey(ORIGIN, generateSigningKeyPair().privateKey);
    const r2 = await verifyReleaseBundle(g.out, {
      trustedPublicKeyPem: g.publicKeyPem,
      trustedVerifierKey: formatVerifierKey(ORIGIN, stranger.rawPublicKey),
    });
    expect(codes(r2)).toEqual([
      ['key-mismatch', 'public-key.vkey'],
      ['proof-invalid', 'proofs/model-registered.json'],
      ['proof-invalid', 'proofs/run-finished.json'],
    ]);
  });

  it('write refuses a non-empty folder, a key pair that does not match, a bad proof, and a file that differs from its expected digest', async () => {
    const f = await writeFixture(tmp);
    expect(isCairnError(await refusal(writeReleaseBundle(f.out, f.options)), 'ALREADY_EXISTS')).toBe(true);
    const other = generateSigningKeyPair();
    expect(
      isCairnError(
        await refusal(
          writeReleaseBundle(join(tmp(), 'a'), { ...f.options, publicKeyPem: publicKeyToPem(other.publicKey) }),
        ),
        'INVALID_INPUT',
      ),
    ).toBe(true);
    const badProof = f.options.auditProofs[0]!.text.replace('run.finish', 'run.start');
    expect(
      isCairnError(
        await refusal(
          writeReleaseBundle(join(tmp(), 'b'), { ...f.options, auditProofs: [{ name: 'x', text: badProof }] }),
        ),
        'CHECK_FAILED',
      ),
    ).toBe(true);
    const facts = sampleFacts();
    expect(
      isCairnError(
        await refusal(
          writeReleaseBundle(join(tmp(), 'c'), {
            ...f.options,
            statementFacts: { ...f.options.statementFacts, code: { commit: 'main', dirty: null } },
          }),
        ),
        'INVALID_INPUT',
      ),
    ).toBe(true);
    expect(facts.code.commit).toHaveLength(40);
    // The copy is checked against the expected digest; nothing is left behind.
    const empty = tmp();
    const err = await refusal(
      writeReleaseBundle(empty, { ...f.options, files: [{ ...f.options.files[0]!, sha256: `sha256:${H('7')}` }] }),
    );
    expect(isCairnError(err, 'CORRUPT_OBJECT')).toBe(true);
    expect(readdirSync(empty)).toEqual([]);
    expect(
      isCairnError(await refusal(writeReleaseBundle(join(tmp(), 'd'), { ...f.options, files: [] })), 'INVALID_INPUT'),
    ).toBe(true);
  });

  it('verify throws for a folder that is not a release bundle', async () => {
    expect(isCairnError(await refusal(verifyReleaseBundle(tmp())), 'INVALID_INPUT')).toBe(true);
    const d = tmp();
    writeFileSync(
      join(d, 'manifest.json'),
      '{"format":"cairn.release/v9","model":{"name":"x","version":1},"files":[]}',
    );
    expect(isCairnError(await refusal(verifyReleaseBundle(d)), 'UNSUPPORTED')).toBe(true);
  });
});

const here = dirname(fileURLToPath(import.meta.url));
const hasTools =
  spawnSync('python3', ['--version']).status === 0 &&
  /^OpenSSL 3\./.test(spawnSync('openssl', ['version'], { encoding: 'utf8' }).stdout ?? '');

describe('verification with python3 and openssl only (docs/RELEASES.md)', () => {
  it('the documentation carries the verifier script verbatim', () => {
    const doc = readFileSync(join(here, '..', '..', '..', 'docs', 'RELEASES.md'), 'utf8');
    expect(doc).toContain(VERIFY_PY);
  });

  it.skipIf(!hasTools)('the script accepts a good bundle and names what is wrong in a bad one', async () => {
    const f = await writeFixture(tmp);
    const script = join(tmp(), 'verify_release.py');
    writeFileSync(script, VERIFY_PY);
    const pem = join(tmp(), 'trusted.pem');
    writeFileSync(pem, f.publicKeyPem);
    const run = (...args: string[]) => spawnSync('python3', [script, f.out, ...args], { encoding: 'utf8' });

    const good = run(pem, f.verifierKey);
    expect(good.stderr).toBe('');
    expect(good.status).toBe(0);
    expect(good.stdout).toContain(`key id: ${keyIdOf(f.privateKey)}`);
    expect(good.stdout).toContain('ok: churn v3, 13 files');
    // Without a trusted key the checks pass but nothing reports success (DESIGN.md §10).
    const untrusted = run();
    expect(untrusted.status).toBe(1);
    expect(untrusted.stdout).toContain('UNTRUSTED: self-consistent, but no trusted key was given');
    expect(untrusted.stdout).not.toContain('ok:');

    const p = join(f.out, 'model', 'weights.bin');
    const bytes = readFileSync(p);
    bytes[0] = bytes[0]! ^ 1;
    writeFileSync(p, bytes);
    writeFileSync(join(f.out, 'model', 'extra.bin'), 'x');
    const bad = run(pem);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('FAIL model/weights.bin: was modified');
    expect(bad.stdout).toContain('FAIL model/extra.bin: is not listed in the manifest');

    // Re-signed with the right key, the statement still disagrees; a tampered proof is caught.
    rmSync(join(f.out, 'model', 'extra.bin'));
    const proofPath = join(f.out, 'proofs', 'run-finished.json');
    writeFileSync(proofPath, readFileSync(proofPath, 'utf8').replace('run.finish', 'run.start'));
    resignManifest(f.out, f.privateKey);
    const bad2 = run(pem);
    expect(bad2.status).toBe(1);
    expect(bad2.stdout).toContain('FAIL model/weights.bin: the signed statement and the manifest disagree');
    expect(bad2.stdout).toContain('FAIL proofs/run-finished.json: the entry does not hash to the stated leaf');
    expect(bad2.stdout).not.toContain('manifest.dsse.json');

    // Another trusted key: every signature fails.
    const otherPem = join(tmp(), 'other.pem');
    writeFileSync(otherPem, publicKeyToPem(generateSigningKeyPair().publicKey));
    const bad3 = run(otherPem);
    expect(bad3.stdout).toContain('FAIL public-key.pem: is not the trusted key');
    expect(bad3.stdout).toContain('FAIL manifest.dsse.json: no signature verifies');
    expect(bad3.stdout).toContain('FAIL provenance.dsse.json: no signature verifies');
  });
});
