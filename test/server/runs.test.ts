// Training runs submitted through the team server run on the server's backends, as the
// authenticated person, with the team's run cache, quotas and audit log.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servicesAs, startTeam, type Team } from './harness.js';

describe('runs through the team server', () => {
  let t: Team;
  beforeAll(async () => {
    t = await startTeam();
    // A dataset version on the server for the run's input.
    const dir = mkdtempSync(join(tmpdir(), 'cairn-in-'));
    writeFileSync(join(dir, 'd.csv'), 'x,y\n1,0\n2,1\n');
    const rt = t.server.runtime;
    await rt.runAs({ actor: { id: 'alice', auth: 'token' }, command: 'setup' }, () =>
      rt.services.datasets.add({ source: dir, name: 'toy' }),
    );
  });
  afterAll(() => t.close());
  const as = (user: string) => servicesAs(t, user);
  const project = () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-proj-'));
    writeFileSync(
      join(dir, 'train.sh'),
      'echo "training on $(wc -l < $CAIRN_INPUT_TRAIN/d.csv) lines"; echo oops >&2\n',
    );
    writeFileSync(
      join(dir, 'cairn.yaml'),
      'name: toy-train\ncommand: "sh train.sh && mkdir -p $CAIRN_OUTPUT_DIR/m && echo w > $CAIRN_OUTPUT_DIR/m/model.bin"\ninputs:\n  train: toy@v1\nparams:\n  lr: 0.1\n',
    );
    return dir;
  };

  it('runs the spec and its code on the server as the submitter; logs and wait work; an identical run is reused', async () => {
    const dir = project();
    const alice = as('alice');
    const sub = await alice.runs.submit({ spec: join(dir, 'cairn.yaml') });
    expect(sub.outcome).not.toBe('reused');
    const done = await alice.runs.wait(sub.run.id, { pollMs: 100 });
    expect(done.status).toBe('completed');
    const chunks: Buffer[] = [];
    await alice.runs.logs(sub.run.id, { write: (c) => chunks.push(c) });
    expect(Buffer.concat(chunks).toString()).toMatch(/training on\s+3 lines/);
    const err: Buffer[] = [];
    await alice.runs.logs(sub.run.id, { stderr: true, write: (c) => err.push(c) });
    expect(Buffer.concat(err).toString()).toContain('oops');
    const submits = (await alice.audit.events({ action: 'run.submit' })) as Array<{ actor: string }>;
    expect(submits.map((e) => e.actor)).toContain('alice');
    // The same code and inputs from someone else: the team's run cache answers.
    const again = await as('dana').runs.submit({ spec: join(project(), 'cairn.yaml') });
    expect(again.outcome).toBe('reused');
  });

  it("registers a model from a server run's outputs as the caller; --path and viewers are refused", async () => {
    const dir = project();
    writeFileSync(join(dir, 'use.md'), '## Intended use\nScoring <b>toy</b> rows.\n');
    writeFileSync(join(dir, 'sig.json'), JSON.stringify({ inputs: [{ name: 'x', type: 'float' }], outputs: [] }));
    const alice = as('alice');
    const sub = await alice.runs.submit({ spec: join(dir, 'cairn.yaml'), force: true });
    await alice.runs.wait(sub.run.id, { pollMs: 100 });
    const r = await alice.models.register({
      name: 'toy-model',
      fromRun: sub.run.id,
      format: 'bin',
      intendedUse: join(dir, 'use.md'),
      signature: join(dir, 'sig.json'),
    });
    expect(r.ref).toMatch(/^toy-model@v\d+$/);
    const card = await as('carol').models.card(r.ref);
    expect(JSON.stringify(card)).toContain('Scoring <b>toy</b> rows.');
    expect(card.training.run?.id).toBe(sub.run.id);
    const events = (await alice.audit.events({ action: 'model.register' })) as Array<{ actor: string }>;
    expect(events.map((e) => e.actor)).toContain('alice');
    await expect(alice.models.register({ name: 'toy-model', path: dir })).rejects.toMatchObject({
      code: 'NOT_ON_SERVER',
    });
    await expect(as('carol').models.register({ name: 'toy-model', fromRun: sub.run.id })).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
    await expect(alice.models.register({ name: 'toy-model', fromRun: 'no-such-run' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('needs the contributor role, and refuses code paths that would leave the code folder', async () => {
    const dir = project();
    await expect(as('carol').runs.submit({ spec: join(dir, 'cairn.yaml') })).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
    for (const bad of ['../evil.sh', '/etc/x', 'a/../../b', '.cairn/keys/x'])
      expect(
        (
          await t.call('alice', 'POST', '/api/v1/runs', {
            spec: 'name: x\ncommand: "true"\n',
            specName: 'cairn.yaml',
            files: { [bad]: 'aGk=' },
          })
        ).json.error.code,
        bad,
      ).toBe('PATH_UNSAFE');
  });
});
