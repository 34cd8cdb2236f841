// The events an audited write appends right after its own (`commit(fn, { also })`): a team
// server's per-project `run.import` after the `remote.pull` of an import (docs/SERVER.md "What a
// pull from the server brings"). In the write's transaction, or not at all.
import { describe, expect, it } from 'vitest';
import { initWorkspace } from '../../app/workspace.js';
import { useTempDirs } from '../../test-support/temp.js';
import { verifyWorkspaceLog } from '../service/audit-service.js';
import type { EventDraft } from '../event.js';

const project = (name: string): EventDraft => ({
  action: 'run.import',
  target: { type: 'project', name },
  params: { importedRuns: [] },
});

describe.each([false, true])('events appended after an audited write (group commit: %s)', (groupCommit) => {
  const tmp = useTempDirs();

  it('come right after its event, ok, in its transaction; a write that fails appends none of them', async () => {
    const ws = await initWorkspace(tmp(), { command: 'test', groupCommit });
    try {
      const draft: EventDraft = { action: 'remote.pull', target: { type: 'remote', name: 'store' } };
      await ws.audit.audited(draft, (commit) =>
        commit(async () => null, { outcome: 'ok', also: [project('nlp'), project('vision')] }),
      );
      await expect(
        ws.audit.audited(draft, (commit) =>
          commit(
            async () => {
              throw new Error('the import failed');
            },
            { outcome: 'ok', also: [project('lost')] },
          ),
        ),
      ).rejects.toThrow('the import failed');
      const rows = await ws.meta.db
        .selectFrom('audit_events')
        .select(['idx', 'action', 'target_name', 'outcome'])
        .where('action', 'in', ['remote.pull', 'run.import'])
        .orderBy('idx')
        .execute();
      const first = rows[0]!.idx;
      expect(rows.map((r) => [r.idx - first, r.action, r.target_name, r.outcome])).toEqual([
        [0, 'remote.pull', 'store', 'ok'],
        [1, 'run.import', 'nlp', 'ok'],
        [2, 'run.import', 'vision', 'ok'],
        [3, 'remote.pull', 'store', 'failed'],
      ]);
      expect((await verifyWorkspaceLog(ws, {})).problems).toEqual([]);
    } finally {
      await ws.close();
    }
  });
});
