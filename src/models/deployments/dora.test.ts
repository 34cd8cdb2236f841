import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../../app/workspace.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace, writeTree } from '../../test-support/workspace.js';
import { registerModel, resolveModel } from '../registry.js';
import { doraMetrics, median, percentile } from './dora.js';

describe('DORA metrics', () => {
  const tmp = useTempDirs();
  const open: Workspace[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close();
  });

  const withVersions = async (n: number) => {
    const root = tmp();
    const ws = await newWorkspace(root, { actor: 'alice@example.com' });
    open.push(ws);
    for (let i = 1; i <= n; i++) {
      writeTree(join(root, `m${i}`), { 'model.onnx': `weights-${i}` });
      await registerModel(ws, { name: 'spam', path: join(root, `m${i}`) });
    }
    return ws;
  };

  const minus5min = (iso: string) => new Date(Date.parse(iso) - 5 * 60_000).toISOString();

  it('computes each figure exactly from a crafted history', async () => {
    const ws = await withVersions(3);
    const v = [
      (await resolveModel(ws, 'spam@v1')).version,
      (await resolveModel(ws, 'spam@v2')).version,
      (await resolveModel(ws, 'spam@v3')).version,
    ];
    const created = ['2025-12-31T00:00:00.000Z', '2026-01-10T00:00:00.000Z', '2026-01-20T00:00:00.000Z'];
    for (let i = 0; i < 3; i++)
      await ws.meta.db
        .updateTable('model_versions')
        .set({ created_at: created[i]! })
        .where('id', '=', v[i]!.id)
        .execute();
    let n = 0;
    const deploy = async (
      version: number,
      env: string,
      alias: string | null,
      status: string,
      endedAt: string | null,
    ) => {
      n++;
      await ws.meta.db
        .insertInto('deployments')
        .values({
          id: `d${String(n).padStart(2, '0')}`,
          model_id: v[0]!.model_id,
          version_id: v[version - 1]!.id,
          env,
          alias,
          status,
          started_at: minus5min(endedAt ?? '2026-01-29T00:00:00.000Z'),
          ended_at: endedAt,
          by: 'alice@example.com',
          hook: null,
          health: null,
          error: null,
          previous_version_id: null,
        })
        .execute();
    };
    await deploy(1, 'production', 'production', 'succeeded', '2025-12-31T12:00:00.000Z'); // before the window: v1's first
    await deploy(1, 'production', 'production', 'succeeded', '2026-01-02T00:00:00.000Z'); // counts; not v1's first
    await deploy(2, 'production', 'production', 'failed', '2026-01-10T06:00:00.000Z'); // down from here…
    await deploy(2, 'production', 'production', 'rolled_back', '2026-01-10T08:00:00.000Z'); // …still down
    await deploy(2, 'production', 'production', 'succeeded', '2026-01-11T00:00:00.000Z'); // restored after 18 h; v2's lead 1 d
    await deploy(3, 'staging', null, 'succeeded', '2026-01-20T01:00:00.000Z'); // not production
    await deploy(3, 'production', 'production', 'succeeded', '2026-01-20T12:00:00.000Z'); // v3's lead 12 h
    await deploy(3, 'staging', null, 'failed', '2026-01-25T00:00:00.000Z'); // never restored
    await deploy(3, 'production', 'production', 'pending', null); // not finished: ignored
    await deploy(3, 'production', 'production', 'succeeded', '2026-02-05T00:00:00.000Z'); // after the window

    const r = await doraMetrics(ws, { since: '2026-01-01T00:00:00Z', until: '2026-01-31T00:00:00Z' });
    expect(r.window).toEqual({ since: '2026-01-01T00:00:00.000Z', until: '2026-01-31T00:00:00.000Z', days: 30 });
    expect(r.deploymentFrequency).toEqual({ deployments: 3, perDay: 0.1, perWeek: 0.7, reason: null });
    expect(r.leadTime).toEqual({ versions: 2, medianS: 64_800, p90S: 86_400, reason: null });
    expect(r.changeFailureRate).toEqual({
      failed: 3,
      total: 7,
      rate: 3 / 7,
      byEnv: { production: { failed: 2, total: 5 }, staging: { failed: 1, total: 2 } },
      reason: null,
    });
    expect(r.timeToRestore).toEqual({ restored: 1, unrestored: 1, medianS: 64_800, reason: null });
    // An age is measured back from --until.
    expect((await doraMetrics(ws, { since: '30d', until: '2026-01-31T00:00:00Z' })).window.since).toBe(
      '2026-01-01T00:00:00.000Z',
    );
    expect(
      (await doraMetrics(ws, { model: 'spam', since: '2026-01-01T00:00:00Z', until: '2026-01-31T00:00:00Z' }))
        .deploymentFrequency.deployments,
    ).toBe(3);
    await expect(doraMetrics(ws, { model: 'ham' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(doraMetrics(ws, { since: 'last tuesday' })).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('says null, with the reason, where there is no data', async () => {
    const ws = await withVersions(1);
    const r = await doraMetrics(ws, { model: 'spam' });
    expect(r.window.days).toBe(30);
    expect(r.deploymentFrequency).toEqual({
      deployments: 0,
      perDay: null,
      perWeek: null,
      reason: 'no successful production deployment ended in the window',
    });
    expect(r.leadTime).toEqual({
      versions: 0,
      medianS: null,
      p90S: null,
      reason: 'no version had its first successful production deployment in the window',
    });
    expect(r.changeFailureRate).toEqual({
      failed: 0,
      total: 0,
      rate: null,
      byEnv: {},
      reason: 'no deployment finished in the window',
    });
    expect(r.timeToRestore).toEqual({
      restored: 0,
      unrestored: 0,
      medianS: null,
      reason: 'no deployment failed in the window',
    });
  });

  it('median and nearest-rank percentile', () => {
    expect([median([]), median([3, 1, 2]), median([4, 1, 3, 2])]).toEqual([null, 2, 2.5]);
    expect([
      percentile([], 90),
      percentile([5], 90),
      percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90),
      percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 90),
    ]).toEqual([null, 5, 9, 10]);
  });
});
