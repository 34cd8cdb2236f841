import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { sql } from 'kysely';
import { expect } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { isCairnError } from '../core/errors.js';

/** The CairnError a promise rejects with, or null when it resolves. */
export const refusal = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    if (isCairnError(err)) return err;
    throw err;
  }
  return null;
};

/** Every row of every table but the audit log's, and every file under the object store (path and size). */
export async function snapshot(ws: Workspace): Promise<{ tables: Record<string, unknown[]>; store: string[] }> {
  const names = await sql<{ name: string }>`select name from sqlite_master where type = 'table' order by name`.execute(
    ws.meta.db,
  );
  const tables: Record<string, unknown[]> = {};
  for (const { name } of names.rows)
    if (!name.startsWith('audit') && !name.startsWith('sqlite'))
      tables[name] = (await sql`select * from ${sql.table(name)}`.execute(ws.meta.db)).rows;
  const store: string[] = [];
  const root = join(ws.cairnDir, 'objects');
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true }))
      if (e.isDirectory()) walk(join(d, e.name));
      else store.push(`${relative(root, join(d, e.name))} ${statSync(join(d, e.name)).size}`);
  };
  walk(root);
  return { tables, store: store.sort() };
}

/** The refused pull changed nothing but the log, which gained exactly its failed event. */
export async function expectUnchanged(ws: Workspace, before: Awaited<ReturnType<typeof snapshot>>, events: number) {
  expect(await snapshot(ws)).toEqual(before);
  const log = await ws.meta.db.selectFrom('audit_events').select('entry').orderBy('idx').execute();
  expect(log.length).toBe(events + 1);
  expect(JSON.parse(log.at(-1)!.entry)).toMatchObject({ action: 'remote.pull', outcome: 'failed' });
}

export const eventCount = async (ws: Workspace) =>
  (await ws.meta.db.selectFrom('audit_events').select('idx').execute()).length;
