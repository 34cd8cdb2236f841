// A team server's checkpoints cosigned by three witnesses: configured on the server host, seen by clients.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, cliSpawn, type CliResult } from '../../src/test-support/cli.js';
import { startWitness, type Child, type RunningWitness } from './support.js';

const running: RunningWitness[] = [];
const children: Child[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  await Promise.all(running.splice(0).map((w) => w.stop()));
});

function ok(r: CliResult): CliResult {
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r;
}

async function startServer(cwd: string, dataDir: string): Promise<string> {
  const child = cliSpawn(['server', 'start', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--json'], { cwd });
  children.push(child);
  let out = '';
  return new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /"url":\s*"([^"]+)"/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
}

interface Report {
  size: number;
  witnessed: boolean;
  policy: number;
  cosignatures: Array<{ name: string }>;
}

describe("a team server's witnessed checkpoints", () => {
  it('three witnesses cosign the server log; a client sees the cosignatures; witness config stays on the host', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-witness-srv-'));
    const dataDir = join(cwd, 'data');
    const host = { cwd, env: { CAIRN_WORKSPACE: dataDir } };
    ok(cli(['server', 'user', 'add', 'root', '--role', 'admin', '--data-dir', dataDir], { cwd }));
    const token = (
      ok(cli(['server', 'token', 'create', '--user', 'root', '--data-dir', dataDir, '--json'], { cwd })).json as {
        token: string;
      }
    ).token;
    const vkey = (ok(cli(['audit', 'checkpoint', '--json'], host)).json as { verifierKey: string }).verifierKey;
    const ws = await Promise.all([1, 2, 3].map((i) => startWitness(cwd, join(cwd, `w${i}`))));
    running.push(...ws);
    for (const w of ws) {
      ok(cli(['witness', 'add-log', vkey.split('+')[0]!, vkey, '--data-dir', w.dataDir], { cwd }));
      ok(cli(['audit', 'witness', 'add', w.url, w.vkey], host));
    }
    ok(cli(['audit', 'witness', 'policy', '2'], host));
    const url = await startServer(cwd, dataDir);
    const client = { cwd: mkdtempSync(join(tmpdir(), 'cairn-client-')), env: { CAIRN_CONFIG_DIR: join(cwd, 'cfg') } };
    ok(cli(['login', url, '--token', token], client));
    ok(cli(['model', 'ls'], client));
    const cp = ok(cli(['audit', 'checkpoint', '--json'], client)).json as { size: number; witnessing: Report };
    expect(cp.witnessing).toMatchObject({ size: cp.size, witnessed: true, policy: 2 });
    expect(cp.witnessing.cosignatures).toHaveLength(3);
    const status = ok(cli(['audit', 'witness', 'status', '--json'], client)).json as Report;
    expect(status.witnessed).toBe(true);
    // Clients cannot change the server's witnesses: that is done on the host.
    const denied = cli(['audit', 'witness', 'policy', '0'], client);
    expect(denied.code).toBe(1);
    expect(denied.stdout + denied.stderr).toMatch(/NOT_ON_SERVER/);
  }, 240_000);
});
