/* eslint-disable @typescript-eslint/no-explicit-any -- service answers are checked field by field */
// Twenty people at once, each pushing a distinct version from their own workspace, training on
// it on the server and registering the result: every version and model must arrive exactly once
// (issue "Team server": "20 concurrent clients each pushing a distinct version and registering a
// model"). bench/suites/server-clients.mjs times the same story.
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login } from '../../src/app/remote/login.js';
import { withServices } from '../../src/app/services.js';
import { addVersion } from '../../src/datasets/add.js';
import { newWorkspace, prng, writeTree } from '../../src/test-support/workspace.js';
import { startTeam, type Team } from './harness.js';

const CLIENTS = 20;
let t: Team;
beforeAll(async () => {
  const roles: Record<string, 'contributor' | 'admin'> = { admin: 'admin' };
  for (let i = 0; i < CLIENTS; i++) roles[`p${i}`] = 'contributor';
  t = await startTeam({ roles });
});
afterAll(() => t?.close());

async function story(i: number) {
  const home = mkdtempSync(join(tmpdir(), `cairn-p${i}-`));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CAIRN_CONFIG_DIR: join(home, 'config'),
    CAIRN_SERVER: '',
    CAIRN_WORKSPACE: '',
    CAIRN_TOKEN: '',
  };
  await login(t.server.url, t.tokens[`p${i}`]!, env);
  const ws = join(home, 'ws');
  const w = await newWorkspace(ws, { actor: `p${i}@laptop` });
  const src = join(home, 'src');
  writeTree(src, { 'part.bin': prng(1000 + i, 50_000 + i), 'rows.csv': `id,y\n${i},1\n` });
  await addVersion(w, { source: src, name: `data-${i}` });
  await w.close();
  const inWs = <T>(fn: (s: any) => Promise<T>) => withServices({ cwd: ws, env }, fn);
  const onServer = <T>(fn: (s: any) => Promise<T>) => withServices({ cwd: home, env }, fn);
  await inWs((s) => s.transfer.addRemote('team', t.server.url, {}));
  const pushed: any = await inWs((s) => s.transfer.push([], { remote: 'team' }));
  const code = join(home, 'code');
  writeTree(code, {
    'cairn.yaml': `name: train-${i}\ncommand: "mkdir -p $CAIRN_OUTPUT_DIR/m && wc -c < $CAIRN_INPUT_TRAIN/part.bin > $CAIRN_OUTPUT_DIR/m/size.txt"\ninputs:\n  train: data-${i}@v1\n`,
  });
  const sub: any = await onServer((s) => s.runs.submit({ spec: join(code, 'cairn.yaml') }));
  const done: any = await onServer((s) => s.runs.wait(sub.run.id, { pollMs: 100 }));
  if (done.status !== 'completed') throw new Error(`p${i}: run ${done.status}`);
  const reg: any = await onServer((s) => s.models.register({ name: `model-${i}`, fromRun: sub.run.id, format: 'txt' }));
  return { pushed, reg };
}

describe('twenty clients at once', () => {
  it('each pushes a distinct version, trains on it and registers a model: all present exactly once, one log', async () => {
    const results = await Promise.allSettled(Array.from({ length: CLIENTS }, (_, i) => story(i)));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`p${i}: ${String(r.reason)}`] : []));
    expect(failed).toEqual([]);
    const s = t.server.runtime.services;
    const datasets = (await s.datasets.list()) as any[];
    for (let i = 0; i < CLIENTS; i++) {
      const log = (await s.datasets.log(`data-${i}`)) as any[];
      expect(log, `data-${i}`).toHaveLength(1);
      const versions = (await s.models.versions(`model-${i}`)) as any[];
      expect(versions, `model-${i}`).toHaveLength(1);
      // The model is the size of that person's own file: nobody trained on someone else's bytes.
      const card = await s.models.card(`model-${i}@v1`);
      expect(card.files).toEqual([
        // Size and digest both: a job started twice rewrote the file while it was versioned.
        expect.objectContaining({
          path: 'm/size.txt',
          size: String(50_000 + i).length + 1,
          sha256: createHash('sha256')
            .update(`${50_000 + i}\n`)
            .digest('hex'),
        }),
      ]);
    }
    expect(datasets.filter((d) => /^data-\d+$/.test(d.name))).toHaveLength(CLIENTS);
    const events = (await s.audit.events({ action: 'model.register', limit: 1000 })) as any[];
    expect(events.map((e) => e.actor).sort()).toEqual(Array.from({ length: CLIENTS }, (_, i) => `p${i}`).sort());
    const verified: any = await s.audit.verify({});
    expect(verified.ok).toBe(true);
  }, 600_000);
});
