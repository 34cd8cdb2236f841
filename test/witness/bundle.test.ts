// An audit export carries the cosigned checkpoints and RFC 3161 tokens; bundle verification checks them.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, type CliResult } from '../../src/test-support/cli.js';
import { makeTsa, startTsa, startWitness, stopTsas, type RunningWitness } from './support.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
if (!hasOpenssl && process.env.CAIRN_REQUIRE_SERVICES === '1')
  throw new Error('CAIRN_REQUIRE_SERVICES=1 but the openssl command is missing');
if (!hasOpenssl) console.warn('SKIPPED: bundle evidence tests need the openssl command');

const running: RunningWitness[] = [];
afterEach(async () => {
  stopTsas();
  await Promise.all(running.splice(0).map((w) => w.stop()));
});

function ok(r: CliResult): CliResult {
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r;
}

describe.skipIf(!hasOpenssl)('audit export with witnesses and trusted time', () => {
  it('the bundle verifies --witnessed offline; a changed cosignature or token is caught', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-witness-bundle-'));
    const tsaDir = join(cwd, 'tsa');
    mkdirSync(tsaDir);
    makeTsa(tsaDir);
    const tsa = await startTsa(tsaDir);
    const home = { cwd: join(cwd, 'ws') };
    ok(cli(['init', join(cwd, 'ws')], { cwd }));
    const vkey = (ok(cli(['audit', 'checkpoint', '--json'], home)).json as { verifierKey: string }).verifierKey;
    const ws = await Promise.all([1, 2].map((i) => startWitness(cwd, join(cwd, `w${i}`))));
    running.push(...ws);
    for (const w of ws) {
      ok(cli(['witness', 'add-log', vkey.split('+')[0]!, vkey, '--data-dir', w.dataDir], { cwd }));
      ok(cli(['audit', 'witness', 'add', w.url, w.vkey], home));
    }
    ok(cli(['audit', 'witness', 'policy', '2'], home));
    ok(cli(['audit', 'timestamp', 'set', tsa, '--ca', join(tsaDir, 'ca.pem')], home));
    ok(cli(['data', 'add', join(tsaDir, 'tsa.cnf'), '--name', 'cfg'], home));
    const bundle = join(cwd, 'bundle');
    ok(cli(['audit', 'export', bundle], home));
    const v = ok(cli(['audit', 'verify', '--bundle', bundle, '--witnessed', '--key', vkey], { cwd }));
    expect(v.stdout).toMatch(/evidence: \d+ cosigned checkpoint\(s\), the latest with 2 valid cosignature/);
    expect(v.stdout).toMatch(/[1-9]\d* RFC 3161 token/);
    // Every token verifies with openssl alone.
    const tokens = readdirSync(join(bundle, 'timestamp')).filter((f) => f.endsWith('.tsr'));
    for (const t of tokens) {
      const r = spawnSync(
        'openssl',
        ['ts', '-verify', '-data', t.replace(/\.tsr$/, '.checkpoint'), '-in', t, '-CAfile', 'ca.pem'],
        { cwd: join(bundle, 'timestamp'), encoding: 'utf8' },
      );
      expect(r.stdout + r.stderr).toMatch(/Verification: OK/);
    }

    // A flipped byte in a cosignature: refused.
    const tampered = join(cwd, 'tampered');
    spawnSync('cp', ['-r', bundle, tampered]);
    const cosigned = join(tampered, 'witness', 'cosigned');
    const f = readdirSync(cosigned).sort().at(-1)!;
    const lines = readFileSync(join(cosigned, f), 'utf8').split('\n');
    const last = lines.length - 2;
    const sig = Buffer.from(lines[last]!.split(' ')[2]!, 'base64');
    sig[sig.length - 1]! ^= 1;
    lines[last] = `${lines[last]!.split(' ').slice(0, 2).join(' ')} ${sig.toString('base64')}`;
    writeFileSync(join(cosigned, f), lines.join('\n'));
    const bad = cli(['audit', 'verify', '--bundle', tampered, '--key', vkey], { cwd });
    expect(bad.code).toBe(1);
    expect(bad.stdout + bad.stderr).toMatch(/cosignature by witness .* does not verify/);

    // A token replaced by another checkpoint's: refused.
    const swapped = join(cwd, 'swapped');
    spawnSync('cp', ['-r', bundle, swapped]);
    const ts = join(swapped, 'timestamp');
    const datas = readdirSync(ts).filter((n) => n.endsWith('.checkpoint'));
    writeFileSync(join(ts, datas[0]!), `${readFileSync(join(ts, datas[0]!), 'utf8')}\n`);
    expect(cli(['audit', 'verify', '--bundle', swapped, '--key', vkey], { cwd }).code).toBe(1);

    // Without the witness list the bundle cannot be called witnessed.
    rmSync(join(bundle, 'witness', 'witnesses.json'));
    const unlisted = cli(['audit', 'verify', '--bundle', bundle, '--witnessed', '--key', vkey], { cwd });
    expect(unlisted.code).toBe(1);
    expect(unlisted.stdout + unlisted.stderr).toMatch(/no witness list/);
  }, 240_000);
  it("a release bundle carries its proofs' checkpoint cosigned and stamped; --witnessed and pinned witness keys check it offline", async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-witness-release-'));
    const tsaDir = join(cwd, 'tsa');
    mkdirSync(tsaDir);
    makeTsa(tsaDir);
    const tsa = await startTsa(tsaDir);
    const root = join(cwd, 'ws');
    const home = { cwd: root };
    ok(cli(['init', root], { cwd }));
    const vkey = (ok(cli(['audit', 'checkpoint', '--json'], home)).json as { verifierKey: string }).verifierKey;
    const ws = await Promise.all([1, 2].map((i) => startWitness(cwd, join(cwd, `w${i}`))));
    running.push(...ws);
    for (const w of ws) {
      ok(cli(['witness', 'add-log', vkey.split('+')[0]!, vkey, '--data-dir', w.dataDir], { cwd }));
      ok(cli(['audit', 'witness', 'add', w.url, w.vkey], home));
    }
    ok(cli(['audit', 'witness', 'policy', '2'], home));
    ok(cli(['audit', 'timestamp', 'set', tsa, '--ca', join(tsaDir, 'ca.pem')], home));
    const data = join(cwd, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'd.csv'), 'x,y\n1,0\n');
    ok(cli(['data', 'add', data, '--name', 'toy'], home));
    writeFileSync(
      join(root, 'cairn.yaml'),
      'name: toy-train\ncommand: "mkdir -p $CAIRN_OUTPUT_DIR/m && echo weights > $CAIRN_OUTPUT_DIR/m/model.bin"\ninputs:\n  train: toy@v1\n',
    );
    const run = ok(cli(['run', '--json'], home)).json as { id: string };
    ok(cli(['model', 'register', 'toy', '--from-run', run.id], home));
    const rel = join(cwd, 'rel');
    ok(cli(['release', 'create', 'toy@v1', '--out', rel], home));
    const pub = join(root, '.cairn', 'keys', 'release.pub');
    const keys = ws.flatMap((w) => ['--witness-key', w.vkey]);

    const v = ok(cli(['release', 'verify', rel, '--key', pub, '--audit-key', vkey, '--witnessed', ...keys], { cwd }));
    expect(v.stdout).toMatch(/checkpoint cosigned by 2 of the 2 witness\(es\) the policy needs, 1 RFC 3161 timestamp/);
    const tokens = readdirSync(join(rel, 'timestamp')).filter((f) => f.endsWith('.tsr'));
    expect(tokens).toHaveLength(1);
    const r = spawnSync(
      'openssl',
      ['ts', '-verify', '-data', tokens[0]!.replace(/\.tsr$/, '.checkpoint'), '-in', tokens[0]!, '-CAfile', 'ca.pem'],
      { cwd: join(rel, 'timestamp'), encoding: 'utf8' },
    );
    expect(r.stdout + r.stderr).toMatch(/Verification: OK/);

    // A witness the auditor does not trust (a stranger's key) cannot make up the policy.
    const stranger = await startWitness(cwd, join(cwd, 'w3'));
    running.push(stranger);
    const pinned = cli(
      [
        'release',
        'verify',
        rel,
        '--key',
        pub,
        '--witnessed',
        '--witness-key',
        ws[0]!.vkey,
        '--witness-key',
        stranger.vkey,
      ],
      { cwd },
    );
    expect(pinned.code).toBe(1);
    expect(pinned.stdout + pinned.stderr).toMatch(/1 valid cosignature\(s\), the policy needs 2/);
    // One witness named twice is still one cosignature.
    const twice = cli(
      [
        'release',
        'verify',
        rel,
        '--key',
        pub,
        '--witnessed',
        '--witness-key',
        ws[0]!.vkey,
        '--witness-key',
        ws[0]!.vkey,
      ],
      { cwd },
    );
    expect(twice.code).toBe(1);
    expect(twice.stdout + twice.stderr).toMatch(/1 valid cosignature\(s\), the policy needs 2/);

    // Cosignatures stripped from the bundle (and the manifest rewritten by someone without the key): refused.
    const stripped = join(cwd, 'stripped');
    spawnSync('cp', ['-r', rel, stripped]);
    rmSync(join(stripped, 'witness', 'cosigned'), { recursive: true });
    const gone = cli(['release', 'verify', stripped, '--key', pub, '--witnessed', ...keys], { cwd });
    expect(gone.code).toBe(1);
    expect(gone.stdout + gone.stderr).toMatch(/file-missing|is missing|missing/);
  }, 300_000);
});
