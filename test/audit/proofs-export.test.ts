// Inclusion proofs and export bundles, checked the way an auditor would: without the workspace,
// with Cairn and with standard tools (openssl + python3 through the bundle's verify.sh).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Frontier, leafHash } from '../../src/audit/merkle/index.js';
import {
  formatVerifierKey,
  generateSigningKeyPair,
  publicKeyToPem,
  rawPublicKey,
  signCheckpoint,
  signerFromPrivateKey,
} from '../../src/audit/note/index.js';
import { canonicalJson } from '../../src/core/canonical-json.js';
import { removeTree } from '../../src/storage/cache/read-only.js';
import { cli } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';

/** Every JSON document on stdout (there must be exactly one). */
function jsonDocs(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split(/\n(?=[{[])/)
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => JSON.parse(s) as Record<string, unknown>);
}

interface Run {
  code: number;
  docs: Array<Record<string, unknown>>;
  stderr: string;
}

function run(args: string[], cwd: string): Run {
  const r = cli([...args, '--json'], { cwd });
  const docs = jsonDocs(r.stdout);
  expect(docs.length, `${args.join(' ')}: ${r.stdout}`).toBe(1);
  return { code: r.code, docs, stderr: r.stderr };
}

const errorOf = (r: Run) =>
  (r.docs.find((d) => 'error' in d)?.error ?? null) as {
    code: string;
    message: string;
    data: Record<string, unknown>;
  } | null;
/** The result, or on failure the report that travels inside the error (`error.data.report`). */
const resultOf = (r: Run) =>
  r.docs.find((d) => !('error' in d)) ?? (errorOf(r)?.data.report as Record<string, unknown> | undefined) ?? null;

/** A workspace with 6 events (init, two adds, a tag, a checkout, a refused tag) and 6 checkpoints. */
function buildWorkspace(dir: string): { vkey: string } {
  const init = run(['init', '.'], dir);
  expect(init.code).toBe(0);
  const vkey = (resultOf(init) as { verifierKey: string }).verifierKey;
  writeTree(join(dir, 'd'), { 'a.bin': prng(1, 30_000) });
  expect(run(['data', 'add', 'd', '--name', 'a'], dir).code).toBe(0);
  writeTree(join(dir, 'd'), { 'a.bin': prng(2, 30_000) });
  expect(run(['data', 'add', 'd', '--name', 'a'], dir).code).toBe(0);
  expect(run(['data', 'tag', 'a@v1', 'prod'], dir).code).toBe(0);
  expect(run(['data', 'checkout', 'a@v2', 'out'], dir).code).toBe(0);
  expect(run(['data', 'tag', 'a@v2', 'prod'], dir).code).toBe(1);
  return { vkey };
}

// The workspace above is built once (six CLI processes) and copied for each test that needs one;
// a proof from another log builds a second, with its own key. Likewise one export bundle is made
// and each tampering test edits a copy of it. Copies share nothing, so no test sees another's.
const template = { dir: '', vkey: '', exportedWs: '', bundle: '' };

beforeAll(() => {
  const root = mkdtempSync(join(tmpdir(), 'cairn-proofs-export-'));
  template.dir = join(root, 'ws');
  mkdirSync(template.dir);
  template.vkey = buildWorkspace(template.dir).vkey;
  template.exportedWs = join(root, 'exported');
  cpSync(template.dir, template.exportedWs, { recursive: true });
  template.bundle = join(root, 'bundle');
  const r = run(['audit', 'export', template.bundle], template.exportedWs);
  expect(r.code).toBe(0);
  expect(resultOf(r)).toMatchObject({ dir: template.bundle, size: 6, checkpoints: 6, inclusionProofs: 6 });
});
afterAll(() => {
  if (template.dir && !process.env.CAIRN_KEEP_TEST_DIRS) removeTree(join(template.dir, '..'));
});

/** A copy of the built workspace in `dir` (an empty folder). */
function workspace(dir: string): { vkey: string } {
  cpSync(template.dir, dir, { recursive: true });
  return { vkey: template.vkey };
}

const haveTools = (() => {
  const missing = ['openssl', 'python3'].filter(
    (t) => spawnSync(t, [t === 'openssl' ? 'version' : '--version'], { encoding: 'utf8' }).status !== 0,
  );
  if (missing.length)
    process.stderr.write(`\n!!! SKIPPING verify.sh checks: ${missing.join(' and ')} not found on PATH\n\n`);
  return missing.length === 0;
})();

function verifySh(bundle: string): { code: number; out: string } {
  const r = spawnSync('sh', [join(bundle, 'verify.sh')], { encoding: 'utf8', cwd: '/' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** Replaces the signature bytes on a note's last signature line with a corrupted copy. */
function corruptSignature(note: string): string {
  const lines = note.split('\n');
  const i = lines.length - 2; // a note ends with a newline
  const sig = Buffer.from(lines[i]!.split(' ').pop()!, 'base64');
  sig[10] = sig[10]! ^ 0x01;
  lines[i] = `${lines[i]!.slice(0, lines[i]!.lastIndexOf(' '))} ${sig.toString('base64')}`;
  return lines.join('\n');
}

describe('inclusion proofs', () => {
  const tmp = useTempDirs();

  it('prove --out + verify-proof --key: ok anywhere; any tampering with the file fails', () => {
    const ws = tmp();
    const { vkey } = workspace(ws);
    const elsewhere = tmp();
    const file = join(elsewhere, 'proof-2.json');
    expect(run(['audit', 'prove', '2', '--out', file], ws).code).toBe(0);
    const proof = JSON.parse(readFileSync(file, 'utf8')) as {
      format: string;
      index: number;
      entry: string;
      leafHash: string;
      treeSize: number;
      proof: string[];
      checkpoint: string;
      verifierKey: string;
    };
    expect(proof).toMatchObject({ format: 'cairn.audit-proof/v1', index: 2, treeSize: 6, verifierKey: vkey });
    expect(proof.proof.length).toBe(3);
    const shown = resultOf(run(['audit', 'show', '2'], ws)) as { event: unknown; leafHash: string };
    expect(proof.entry).toBe(canonicalJson(shown.event));
    expect(proof.leafHash).toBe(shown.leafHash);

    // Checked from a directory with no workspace, against the key kept from `cairn init`.
    const ok = run(['audit', 'verify-proof', file, '--key', vkey], elsewhere);
    expect(ok.code).toBe(0);
    expect(resultOf(ok)).toEqual({
      ok: true,
      index: 2,
      treeSize: 6,
      origin: vkey.split('+')[0],
      keyTrusted: true,
      problems: [],
    });
    const keyFile = join(elsewhere, 'log.vkey');
    writeFileSync(keyFile, `${vkey}\n`);
    expect(run(['audit', 'verify-proof', file, '--key', keyFile], elsewhere).code).toBe(0);
    // Without --key it only shows the file is self-consistent, and says so.
    expect(resultOf(run(['audit', 'verify-proof', file], elsewhere))).toMatchObject({ ok: true, keyTrusted: false });

    const tampered = (name: string, edit: (p: typeof proof) => void): string[] => {
      const copy = structuredClone(proof);
      edit(copy);
      const f = join(elsewhere, name);
      writeFileSync(f, JSON.stringify(copy));
      const r = run(['audit', 'verify-proof', f, '--key', vkey], elsewhere);
      expect(r.code, name).toBe(1);
      expect(errorOf(r)?.code).toBe('CHECK_FAILED');
      return (resultOf(r) as { problems: string[] }).problems;
    };
    const flip = (hex: string) => `${hex[0] === '0' ? '1' : '0'}${hex.slice(1)}`;
    expect(
      tampered('entry.json', (x) => (x.entry = x.entry.replace('tester@example.com', 'Tester@example.com'))),
    ).toEqual([
      'the entry does not hash to the stated leaf',
      'the audit path does not lead from entry 2 to the checkpoint root',
    ]);
    expect(tampered('path.json', (x) => (x.proof[1] = flip(x.proof[1]!)))).toEqual([
      'the audit path does not lead from entry 2 to the checkpoint root',
    ]);
    expect(tampered('index.json', (x) => (x.index = 3))).toEqual([
      'the audit path does not lead from entry 3 to the checkpoint root',
    ]);
    const sig = tampered('signature.json', (x) => (x.checkpoint = corruptSignature(x.checkpoint)));
    expect(sig.length).toBe(1);
    expect(sig[0]).toMatch(/^the checkpoint signature does not verify: /);
    const root = tampered(
      'root.json',
      (x) =>
        (x.checkpoint = x.checkpoint.replace(
          /^(.*\n\d+\n)(.)/,
          (_m, a: string, c: string) => `${a}${c === 'A' ? 'B' : 'A'}`,
        )),
    );
    expect(root.length).toBe(1);
    expect(root[0]).toMatch(/^the checkpoint signature does not verify: /);
  });

  it('a proof from another log does not verify against this log’s key', () => {
    const ws1 = tmp();
    const ws2 = tmp();
    const { vkey: key1 } = workspace(ws1);
    buildWorkspace(ws2);
    const file = join(tmp(), 'p.json');
    expect(run(['audit', 'prove', '1', '--out', file], ws2).code).toBe(0);
    expect(run(['audit', 'verify-proof', file], ws1).code).toBe(0);
    const r = run(['audit', 'verify-proof', file, '--key', key1], ws1);
    expect(r.code).toBe(1);
    expect((resultOf(r) as { problems: string[] }).problems[0]).toMatch(/^the checkpoint signature does not verify/);
  });

  it('prove names missing entries and bad indexes', () => {
    const ws = tmp();
    workspace(ws);
    const r = run(['audit', 'prove', '6'], ws);
    expect(r.code).toBe(1);
    expect(errorOf(r)).toMatchObject({ code: 'NOT_FOUND', message: 'no audit event at index 6' });
    expect(errorOf(run(['audit', 'prove', 'x'], ws))?.code).toBe('USAGE');
    const out = run(['audit', 'prove', '0'], ws);
    expect(out.code).toBe(0);
    expect(resultOf(out)).toMatchObject({ format: 'cairn.audit-proof/v1', index: 0, treeSize: 6 });
  });
});

describe('export bundles', () => {
  const tmp = useTempDirs();

  /** The workspace that exported (read only) and a copy of its bundle (checked in beforeAll). */
  function exported(): { ws: string; bundle: string; vkey: string } {
    const bundle = join(tmp(), 'bundle');
    cpSync(template.bundle, bundle, { recursive: true });
    return { ws: template.exportedWs, bundle, vkey: template.vkey };
  }

  it('a fresh export is complete, recorded as an event, and verifies with Cairn alone', () => {
    const { ws, bundle, vkey } = exported();
    const origin = vkey.split('+')[0];
    expect(readdirSync(bundle).sort()).toEqual([
      'README.md',
      'checkpoints',
      'entries.jsonl',
      'keys',
      'log.json',
      'proofs',
      'public-key.pem',
      'public-key.vkey',
      'verify.py',
      'verify.sh',
    ]);
    expect(readFileSync(join(bundle, 'public-key.vkey'), 'utf8')).toBe(`${vkey}\n`);
    expect(readdirSync(join(bundle, 'checkpoints'))).toEqual(
      [1, 2, 3, 4, 5, 6].map((n) => `${String(n).padStart(12, '0')}.note`),
    );
    const lines = readFileSync(join(bundle, 'entries.jsonl'), 'utf8').split('\n');
    expect(lines.length).toBe(7);
    expect(lines[6]).toBe('');
    expect(lines.slice(0, 6).map((l) => (JSON.parse(l) as { index: number }).index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(
      readFileSync(join(bundle, 'proofs', 'consistency.jsonl'), 'utf8')
        .trim()
        .split('\n').length,
    ).toBe(5);
    expect(
      readFileSync(join(bundle, 'proofs', 'inclusion.jsonl'), 'utf8')
        .trim()
        .split('\n').length,
    ).toBe(6);
    expect(statSync(join(bundle, 'verify.sh')).mode & 0o111).not.toBe(0);
    expect(JSON.parse(readFileSync(join(bundle, 'log.json'), 'utf8'))).toMatchObject({
      format: 'cairn.audit-export/v1',
      origin,
      verifierKey: vkey,
      size: 6,
      checkpoints: 6,
      inclusionProofs: 6,
    });

    // The export itself is an audited action (after the bundle's last entry).
    const log = run(['audit', 'log', '--action', 'audit.export'], ws);
    const events = log.docs[0] as unknown as Array<{
      index: number;
      params: unknown;
      outcome: string;
      target: unknown;
    }>;
    expect(events.map((e) => [e.index, e.outcome, e.target, e.params])).toEqual([
      [
        6,
        'ok',
        { type: 'audit-log', name: origin },
        { size: 6, root: expect.stringMatching(/^[0-9a-f]{64}$/), checkpoints: 6 },
      ],
    ]);

    for (const args of [
      ['--bundle', bundle],
      ['--bundle', bundle, '--key', vkey],
    ]) {
      const v = run(['audit', 'verify', ...args], tmp());
      expect(v.code).toBe(0);
      expect(resultOf(v)).toMatchObject({
        ok: true,
        size: 6,
        checkpoints: 6,
        inclusionProofsChecked: 6,
        consistencyProofsChecked: 5,
        problems: [],
      });
    }
    // A checkpoint kept from earlier works as --against for the bundle too.
    const cp = join(tmp(), 'cp.note');
    cpSync(join(bundle, 'checkpoints', '000000000004.note'), cp);
    expect(run(['audit', 'verify', '--bundle', bundle, '--key', vkey, '--against', cp], tmp()).code).toBe(0);
  });

  it('exporting into a non-empty directory is refused', () => {
    const ws = tmp();
    workspace(ws);
    const dir = tmp();
    writeFileSync(join(dir, 'keep.txt'), 'x');
    const r = run(['audit', 'export', dir], ws);
    expect(r.code).toBe(1);
    expect(errorOf(r)?.code).toBe('ALREADY_EXISTS');
    expect(readdirSync(dir)).toEqual(['keep.txt']);
  });

  it.skipIf(!haveTools)('verify.sh passes with real openssl and python3', () => {
    const { bundle } = exported();
    const r = verifySh(bundle);
    expect(r.out).toContain(
      'ok: 6 checkpoint signature(s) verify with the key of their size (keys/), 0 key transition(s) signed by both keys',
    );
    expect(r.out).toContain('ok: 6 entries, 6 checkpoints, chain and roots match');
    expect(r.code).toBe(0);
  });

  describe('a tampered bundle fails both `verify --bundle --key <trusted>` and verify.sh', () => {
    function tamper(edit: (bundle: string) => void): { cairn: Run; sh: { code: number; out: string } | null } {
      const { bundle, vkey } = exported();
      edit(bundle);
      const cairn = run(['audit', 'verify', '--bundle', bundle, '--key', vkey], tmp());
      return { cairn, sh: haveTools ? verifySh(bundle) : null };
    }

    it('one modified entry line', () => {
      const { cairn, sh } = tamper((b) => {
        const f = join(b, 'entries.jsonl');
        const lines = readFileSync(f, 'utf8').split('\n');
        expect(lines[3]).toContain('"index":3,');
        lines[3] = lines[3]!.replace('tester@example.com', 'Tester@example.com');
        writeFileSync(f, lines.join('\n'));
      });
      expect(cairn.code).toBe(1);
      // The bundle has no stored leaf hashes: entry 4's prev link is what names entry 3.
      expect(errorOf(cairn)?.data).toMatchObject({ firstBadIndex: 3, kind: 'chain-broken' });
      if (sh) {
        expect(sh.code).toBe(1);
        expect(sh.out).toContain('FAIL at entry 3');
      }
    });

    it('a deleted checkpoint file (the latest: the tail is no longer covered by any signature)', () => {
      const { cairn, sh } = tamper((b) => rmSync(join(b, 'checkpoints', '000000000006.note')));
      expect(cairn.code).toBe(1);
      expect(errorOf(cairn)?.code).toBe('CHECK_FAILED');
      const problems = (resultOf(cairn) as { problems: Array<{ index: number | null; kind: string }> }).problems;
      expect(problems).toContainEqual({
        index: 5,
        kind: 'unsigned-tail',
        message: 'entries 5..5 are covered by no signed checkpoint (was the latest checkpoint removed?)',
      });
      if (sh) {
        expect(sh.code).toBe(1);
        expect(sh.out).toContain('FAIL at entry 5: entries 5..5 are covered by no signed checkpoint');
      }
    });

    it('a deleted checkpoint file in the middle', () => {
      const { cairn, sh } = tamper((b) => rmSync(join(b, 'checkpoints', '000000000003.note')));
      expect(cairn.code).toBe(1);
      const kinds = (resultOf(cairn) as { problems: Array<{ kind: string }> }).problems.map((p) => p.kind);
      expect(kinds).toEqual(['bundle-incomplete', 'checkpoint-mismatch', 'checkpoint-mismatch']);
      if (sh) {
        expect(sh.code).toBe(1);
        expect(sh.out).toContain('FAIL: log.json lists 6 entries and 6 checkpoints, the export holds 6 and 5');
      }
    });

    it('a PEM key that is not the vkey (what verify.sh would trust)', () => {
      const { cairn, sh } = tamper((b) =>
        writeFileSync(join(b, 'public-key.pem'), publicKeyToPem(generateSigningKeyPair().publicKey)),
      );
      expect(cairn.code).toBe(1);
      expect((resultOf(cairn) as { problems: unknown[] }).problems).toEqual([
        { index: null, kind: 'bundle-key', message: 'public-key.pem and public-key.vkey are not the same key' },
      ]);
      if (sh) expect(sh.code).toBe(1);
    });

    it('a checkpoint file whose signature line was altered', () => {
      const { cairn, sh } = tamper((b) => {
        const f = join(b, 'checkpoints', '000000000004.note');
        writeFileSync(f, corruptSignature(readFileSync(f, 'utf8')));
      });
      expect(cairn.code).toBe(1);
      expect(errorOf(cairn)?.data.kind).toBe('checkpoint-signature');
      if (sh) {
        expect(sh.code).toBe(1);
        expect(sh.out).toContain('FAIL: bad signature on checkpoints/000000000004.note');
      }
    });

    it('a swapped public key', () => {
      const { cairn, sh } = tamper((b) => {
        const { publicKey } = generateSigningKeyPair();
        const origin = (JSON.parse(readFileSync(join(b, 'log.json'), 'utf8')) as { origin: string }).origin;
        writeFileSync(join(b, 'public-key.vkey'), `${formatVerifierKey(origin, rawPublicKey(publicKey))}\n`);
        writeFileSync(join(b, 'public-key.pem'), publicKeyToPem(publicKey));
      });
      expect(cairn.code).toBe(1);
      expect((resultOf(cairn) as { problems: unknown[] }).problems).toEqual([
        {
          index: null,
          kind: 'bundle-key',
          message: 'public-key.vkey is not the trusted key: the bundle names another signer',
        },
      ]);
      if (sh) {
        expect(sh.code).toBe(1);
        expect(sh.out).toContain("FAIL: public-key.pem is not the log's latest key (keys/000000000000.pem)");
      }
    });
  });

  it('a forged bundle (entry rewritten, chain and roots recomputed, re-signed with a new key) is caught only with the trusted key', () => {
    const { bundle, vkey } = exported();
    const origin = vkey.split('+')[0]!;
    const { privateKey, publicKey } = generateSigningKeyPair();
    const signer = signerFromPrivateKey(origin, privateKey);
    const f = join(bundle, 'entries.jsonl');
    const entries = readFileSync(f, 'utf8').trimEnd().split('\n');
    let prev: string | null = null;
    const frontier = new Frontier();
    const roots = new Map<number, Buffer>();
    const forged = entries.map((line, i) => {
      const e = JSON.parse(line) as Record<string, unknown>;
      if (i === 3) e.actor = { id: 'scapegoat@example.com', auth: 'environment' };
      e.prev = prev;
      const entry = canonicalJson(e);
      const leaf = leafHash(Buffer.from(entry, 'utf8'));
      prev = leaf.toString('hex');
      frontier.append(leaf);
      roots.set(frontier.size, frontier.root());
      return entry;
    });
    writeFileSync(f, `${forged.join('\n')}\n`);
    for (const name of readdirSync(join(bundle, 'checkpoints'))) {
      const size = Number(name.slice(0, 12));
      writeFileSync(
        join(bundle, 'checkpoints', name),
        signCheckpoint({ origin, size, rootHash: roots.get(size)! }, signer),
      );
    }
    writeFileSync(join(bundle, 'public-key.vkey'), `${formatVerifierKey(origin, rawPublicKey(publicKey))}\n`);
    writeFileSync(join(bundle, 'public-key.pem'), publicKeyToPem(publicKey));
    writeFileSync(join(bundle, 'keys', '000000000000.pem'), publicKeyToPem(publicKey));
    // The proofs would give it away; a forger drops them (they are redundant with the entries).
    rmSync(join(bundle, 'proofs'), { recursive: true });

    // Checked only against itself, the forgery is consistent…
    expect(run(['audit', 'verify', '--bundle', bundle], tmp()).code).toBe(0);
    if (haveTools) expect(verifySh(bundle).code).toBe(0);
    // …against the key kept from `cairn init` it is not.
    const trusted = run(['audit', 'verify', '--bundle', bundle, '--key', vkey], tmp());
    expect(trusted.code).toBe(1);
    expect(errorOf(trusted)?.data.kind).toBe('checkpoint-signature');
  });
});
