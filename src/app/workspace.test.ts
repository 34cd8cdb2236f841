import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCairnError } from '../core/errors.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace } from '../test-support/workspace.js';
import { findWorkspaceRoot, initWorkspace, openWorkspace } from './workspace.js';
import { resolveActor } from './identity.js';
import { defaultConfig, loadConfig } from './config.js';

describe('workspace', () => {
  const tmp = useTempDirs();

  it('init creates config, metadata, object store and an owner-only signing key', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    await ws.close();
    const cairn = join(dir, '.cairn');
    for (const p of ['config.json', 'meta.db', 'objects', 'keys/signing.key', 'keys/signing.pub'])
      expect(existsSync(join(cairn, p)), p).toBe(true);
    expect(statSync(join(cairn, 'keys/signing.key')).mode & 0o777).toBe(0o600);
    const config = loadConfig(cairn);
    expect(config.metadata.url).toBe('sqlite:meta.db');
    expect(config.audit.origin).toBe(`cairn.local/${config.workspace.id}`);
  });

  it('init refuses an existing workspace and records workspace.init once', async () => {
    const dir = tmp();
    await (await newWorkspace(dir)).close();
    await expect(initWorkspace(dir, { command: 'test' })).rejects.toSatisfy((e) => isCairnError(e, 'WORKSPACE_EXISTS'));
    const ws = await openWorkspace({ cwd: dir });
    const events = await ws.meta.db.selectFrom('audit_events').select(['action', 'outcome']).execute();
    expect(events).toEqual([{ action: 'workspace.init', outcome: 'ok' }]);
    await ws.close();
  });

  it('commands find the workspace by walking up, like git', async () => {
    const dir = tmp();
    await (await newWorkspace(dir)).close();
    const deep = join(dir, 'a', 'b', 'c');
    mkdirSync(deep, { recursive: true });
    expect(findWorkspaceRoot(deep)).toBe(dir);
    expect(findWorkspaceRoot(tmp())).toBeNull();
    await expect(openWorkspace({ cwd: tmp() })).rejects.toSatisfy((e) => isCairnError(e, 'WORKSPACE_NOT_FOUND'));
  });

  it('identity comes from CAIRN_ACTOR, then config, then git, then the OS user', () => {
    const cfg = defaultConfig('01a21a2b-e0bd-7000-9437-87c69eb049c0', 'now');
    expect(resolveActor(cfg, { CAIRN_ACTOR: 'ci-bot' })).toEqual({ id: 'ci-bot', auth: 'environment' });
    expect(resolveActor({ ...cfg, identity: { id: 'alice@example.com' } }, {})).toEqual({
      id: 'alice@example.com',
      auth: 'config',
    });
    const repo = tmp();
    const env = { HOME: repo, GIT_CONFIG_GLOBAL: join(repo, 'gc'), GIT_CONFIG_NOSYSTEM: '1' };
    writeFileSync(join(repo, 'gc'), '[user]\n\temail = bob@example.com\n');
    expect(resolveActor(cfg, env, repo)).toEqual({ id: 'bob@example.com', auth: 'git-config' });
    writeFileSync(join(repo, 'gc'), '');
    expect(resolveActor(cfg, env, repo).auth).toBe('os-user');
  });

  it('a broken config is reported with every problem at once', async () => {
    const dir = tmp();
    await (await newWorkspace(dir)).close();
    const file = join(dir, '.cairn', 'config.json');
    const cfg = JSON.parse(readFileSync(file, 'utf8'));
    cfg.storage.pack_size_mib = 0;
    cfg.audit.origin = 'has space';
    cfg.extra = true;
    writeFileSync(file, JSON.stringify(cfg));
    await expect(openWorkspace({ cwd: dir })).rejects.toSatisfy(
      (e) => isCairnError(e, 'CONFIG_INVALID') && (e.data.problems as string[]).length === 3,
    );
  });
});
