// Issue 14, "Standard model signatures": a release bundle's model.sig is an OpenSSF Model Signing
// signature that a verifier written from the published format accepts (test/oms/verify_oms.py:
// python3 + hashlib + cryptography, no Cairn code), and that fails it on every tampering.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { writeReleaseBundle } from '../../src/models/releases/bundle.js';
import { writeFixture } from '../../src/models/releases/fixtures.case.js';
import { IN_TOTO_PAYLOAD_TYPE, pae } from '../../src/models/releases/dsse.js';
import { useTempDirs } from '../../src/test-support/temp.js';

const here = dirname(fileURLToPath(import.meta.url));
const VERIFIER = join(here, 'verify_oms.py');

/** A python3 that has the `cryptography` package (the pyenv one, else Debian's python3-cryptography). */
function findPython(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    if (spawnSync(py, ['-c', 'import cryptography'], { encoding: 'utf8' }).status === 0) return py;
  }
  return null;
}
const python = findPython();
if (!python) {
  const msg =
    'python3 with the cryptography package is missing: the independent OMS verifier cannot run (scripts/install-key-tools.sh installs it)';
  if (process.env.CAIRN_REQUIRE_SERVICES === '1') throw new Error(msg);
  console.warn(`SKIPPED: ${msg}`);
}

function verify(bundle: string, pem = join(bundle, 'public-key-oms.pem'), sig = join(bundle, 'model.sig')) {
  const r = spawnSync(python!, [VERIFIER, join(bundle, 'model'), sig, pem], { encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!python)('OMS signature, checked by an independent verifier (test/oms/verify_oms.py)', () => {
  const tmp = useTempDirs();

  it('accepts a fresh bundle, with paths ordered as model_signing orders them', async () => {
    const f = await writeFixture(tmp);
    expect(verify(f.out)).toEqual({ code: 0, out: 'ok: 2 files\n' });
    // "a/b.bin" sorts before "a.txt" by path components, after it by string: both must agree.
    const src = tmp();
    mkdirSync(join(src, 'a'));
    writeFileSync(join(src, 'a', 'b.bin'), 'b');
    writeFileSync(join(src, 'a.txt'), 't');
    writeFileSync(join(src, 'a-z'), 'z');
    writeFileSync(join(src, 'Zeta'), 'Z');
    const out = join(tmp(), 'release');
    await writeReleaseBundle(out, {
      ...f.options,
      files: ['a/b.bin', 'a.txt', 'a-z', 'Zeta'].map((p) => ({ path: p, absPath: join(src, ...p.split('/')) })),
    });
    expect(verify(out)).toEqual({ code: 0, out: 'ok: 4 files\n' });
    const statement = JSON.parse(
      Buffer.from(
        (JSON.parse(readFileSync(join(out, 'model.sig'), 'utf8')) as { dsseEnvelope: { payload: string } }).dsseEnvelope
          .payload,
        'base64',
      ).toString(),
    ) as { predicate: { resources: Array<{ name: string }> } };
    expect(statement.predicate.resources.map((r) => r.name)).toEqual(['Zeta', 'a/b.bin', 'a-z', 'a.txt']);
  });

  it('a changed model byte, an added or a removed file fail it', async () => {
    const f = await writeFixture(tmp);
    const p = join(f.out, 'model', 'weights.bin');
    const bytes = readFileSync(p);
    bytes[7] = bytes[7]! ^ 0x01;
    writeFileSync(p, bytes);
    expect(verify(f.out)).toEqual({ code: 1, out: 'FAIL: weights.bin differs from the signed digest\n' });

    const g = await writeFixture(tmp);
    writeFileSync(join(g.out, 'model', 'extra.py'), 'import os\n');
    expect(verify(g.out)).toEqual({ code: 1, out: 'FAIL: extra.py is in the model folder but not signed\n' });

    const h = await writeFixture(tmp);
    rmSync(join(h.out, 'model', 'config', 'tokenizer.json'));
    expect(verify(h.out)).toEqual({
      code: 1,
      out: 'FAIL: config/tokenizer.json is signed but missing from the model folder\n',
    });
  });

  it('a changed statement fails: the signature covers the payload', async () => {
    const f = await writeFixture(tmp);
    const sigPath = join(f.out, 'model.sig');
    const b = JSON.parse(readFileSync(sigPath, 'utf8')) as { dsseEnvelope: { payload: string } };
    const statement = JSON.parse(Buffer.from(b.dsseEnvelope.payload, 'base64').toString()) as {
      predicate: { resources: Array<{ digest: string }> };
    };
    statement.predicate.resources[0]!.digest = '0'.repeat(64);
    b.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
    writeFileSync(sigPath, JSON.stringify(b));
    expect(verify(f.out)).toEqual({ code: 1, out: 'FAIL: the DSSE signature does not verify with the public key\n' });
  });

  it('another key fails: the trusted one, or a forger who re-signed and swapped the bundle key', async () => {
    const f = await writeFixture(tmp);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const otherPem = join(tmp(), 'other.pem');
    writeFileSync(otherPem, other.publicKey.export({ type: 'spki', format: 'pem' }));
    expect(verify(f.out, otherPem)).toEqual({ code: 1, out: 'FAIL: the key hint does not match the public key\n' });

    // Without the hint, the signature itself must still fail with the wrong key.
    const sigPath = join(f.out, 'model.sig');
    const b = JSON.parse(readFileSync(sigPath, 'utf8')) as {
      verificationMaterial: { publicKey: { hint?: string } };
      dsseEnvelope: { payload: string; signatures: Array<{ sig: string }> };
    };
    delete b.verificationMaterial.publicKey.hint;
    writeFileSync(sigPath, JSON.stringify(b));
    expect(verify(f.out, otherPem)).toEqual({
      code: 1,
      out: 'FAIL: the DSSE signature does not verify with the public key\n',
    });

    // A forger signs a statement for altered weights with their own key: the trusted copy of the
    // publisher's key (kept outside the bundle) refuses it.
    const trusted = join(tmp(), 'trusted.pem');
    writeFileSync(trusted, readFileSync(join(f.out, 'public-key-oms.pem')));
    const payload = Buffer.from(b.dsseEnvelope.payload, 'base64');
    b.dsseEnvelope.signatures = [
      { sig: sign('sha256', pae(IN_TOTO_PAYLOAD_TYPE, payload), other.privateKey).toString('base64') },
    ];
    writeFileSync(sigPath, JSON.stringify(b));
    writeFileSync(join(f.out, 'public-key-oms.pem'), other.publicKey.export({ type: 'spki', format: 'pem' }));
    expect(verify(f.out)).toEqual({ code: 0, out: 'ok: 2 files\n' }); // self-consistent only
    expect(verify(f.out, trusted).code).toBe(1);
  });
});
