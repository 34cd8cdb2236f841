import { describe, expect, it } from 'vitest';
import { verifyWorkspaceLog } from '../../src/audit/service/audit-service.js';
import type { EventDraft } from '../../src/audit/event.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { newWorkspace } from '../../src/test-support/workspace.js';

describe('a large untouched log', () => {
  const tmp = useTempDirs();

  it('100,000 events with a checkpoint every 10,000 verify in-process', async () => {
    const ws = await newWorkspace(tmp());
    const N = 100_000;
    const BATCH = 10_000;
    const digest = `sha256:${'ab'.repeat(32)}`;
    const draft = (i: number): EventDraft => ({
      action: i % 3 === 0 ? 'dataset.tag' : 'dataset.version.create',
      target: { type: 'dataset', name: `ds-${i % 97}`, version: 1 + (i % 5), digest },
      outputs: [digest],
      params: { i },
    });
    // The workspace.init event is entry 0; add N - 1 more.
    for (let start = 1; start < N; start += BATCH) {
      const items = [];
      for (let i = start; i < Math.min(N, start + BATCH); i++) items.push({ draft: draft(i), outcome: 'ok' as const });
      const out = await ws.audit.recordMany(items);
      expect(out[0]!.index).toBe(start);
      await ws.audit.checkpoint();
    }
    expect(await ws.audit.size()).toBe(N);
    // The events are synthetic: no rows stand behind them, so only the log itself is checked
    // (reconciling rows with events is covered by test/audit/state-tamper.test.ts).
    const report = await verifyWorkspaceLog(ws, { state: false });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.size).toBe(N);
    expect(report.checkpoints).toBe(10);
    expect(report.actions).toEqual({ 'workspace.init': 1, 'dataset.tag': 33_333, 'dataset.version.create': 66_666 });
    const latest = await ws.audit.latestCheckpoint();
    expect(report.root).toBe(`sha256:${latest!.root}`);
    // An inclusion proof from deep inside the big tree checks out against the signed root.
    const { getEvent, proveEvent } = await import('../../src/audit/service/audit-service.js');
    const { verifyInclusion } = await import('../../src/audit/merkle/index.js');
    const row = await getEvent(ws, 77_777);
    const p = await proveEvent(ws, 77_777);
    expect(p.treeSize).toBe(N);
    expect(p.entry).toBe(row.entry);
    expect(
      verifyInclusion(
        Buffer.from(p.leafHash, 'hex'),
        77_777,
        N,
        p.proof.map((h) => Buffer.from(h, 'hex')),
        Buffer.from(latest!.root, 'hex'),
      ),
    ).toBe(true);
    await ws.close();
  }, 120_000);
});
