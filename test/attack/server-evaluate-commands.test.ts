// `model evaluate` as a server operation: the suite's text travels and the server evaluates on
// its side. A suite may hold shell commands (`predictor: {command: …}`, `- command: {run: …}`):
// sent by a contributor, they ran on the server's machine, inside the server's own process
// (spawnSync: every other request waited for them), with the server's environment.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTeam, type Team } from '../server/harness.js';

const teams: Team[] = [];
afterEach(async () => {
  for (const t of teams.splice(0)) await t.close().catch(() => {});
});

describe("attack: a contributor's evaluation suite runs commands on the server", () => {
  it('a suite with a command check or a command predictor is refused; nothing runs on the server', async () => {
    const t = await startTeam();
    teams.push(t);
    const ref = await t.registerAs('alice', 'clf');
    const data = mkdtempSync(join(tmpdir(), 'cairn-evaldata-'));
    writeFileSync(join(data, 't.csv'), 'f1,label\n1,1\n0,0\n');
    const rt = t.server.runtime;
    await rt.runAs({ actor: { id: 'alice', auth: 'token' }, command: 'test' }, () =>
      rt.services.datasets.add({ source: data, name: 'eval' }),
    );
    const marker = join(mkdtempSync(join(tmpdir(), 'cairn-evalmark-')), 'ran');
    const suites = {
      check: `suite: s\ndata:\n  label: label\n  features: [f1]\npredictor: {command: "cat > /dev/null; echo '{\\"score\\": 1}'"}\nchecks:\n  - command: {run: "env > ${marker}", format: json}\n`,
      predictor: `suite: s\ndata:\n  label: label\n  features: [f1]\npredictor: {command: "env > ${marker}"}\nchecks:\n  - metric: {name: accuracy, min: 0}\n`,
    };
    for (const [what, suite] of Object.entries(suites)) {
      const r = await t.call('alice', 'POST', '/api/v1/model-versions/evaluations', {
        ref,
        data: 'eval',
        suite,
        suiteName: 'gate.yaml',
      });
      expect(existsSync(marker), `${what}: a command of alice's ran on the server`).toBe(false);
      expect(r.status, `${what}: ${JSON.stringify(r.json)}`).toBeGreaterThanOrEqual(400);
      // A typed refusal that says what to do instead, not a crash.
      expect(r.json.error.code, what).toBe('NOT_ON_SERVER');
      expect(r.json.error.hint, what).toMatch(/evaluate locally/);
      expect(r.json.error.hint, what).toMatch(/cairn run/);
    }
  }, 120_000);
});
