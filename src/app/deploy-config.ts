import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../core/errors.js';
import {
  DEPLOY_CONFIG,
  parseDeployConfig,
  type DeployConfig,
  type DeployDeps,
  type ReleaseDeps,
} from '../models/index.js';
import { releaseKeys, rotateReleaseKey } from './keys.js';
import { releaseEvidence } from './witnessing.js';
import { CLIENT_VERSION } from './version.js';
import type { Workspace } from './workspace.js';

/** `.cairn/deploy.json`, validated; null when the workspace has none. */
export function loadDeployConfig(cairnDir: string): DeployConfig | null {
  const path = join(cairnDir, DEPLOY_CONFIG);
  if (!existsSync(path)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CairnError('CONFIG_INVALID', `cannot read .cairn/${DEPLOY_CONFIG}: ${(err as Error).message}`, {
      hint: 'fix .cairn/deploy.json (see docs/DEPLOY.md)',
    });
  }
  return parseDeployConfig(raw);
}

/**
 * The ports deployments get from the composition root: deploy.json read on each call (an edit
 * between commands, or between a deployment and an outbox flush, takes effect), the process
 * environment hooks inherit, and the User-Agent of webhook requests.
 */
export function deploymentDeps(ws: Workspace, env: NodeJS.ProcessEnv = process.env): DeployDeps {
  return {
    ...ws,
    bookkeeping: ws.meta.db,
    deployConfig: () => loadDeployConfig(ws.cairnDir),
    env,
    userAgent: `cairn/${CLIENT_VERSION}`,
  };
}

/** The ports releases get: the release key (not the audit key), made and announced on first need. */
export function releaseDeps(ws: Workspace, env: NodeJS.ProcessEnv = process.env): ReleaseDeps {
  return {
    ...ws,
    releaseKeys: () => releaseKeys(ws.cairnDir, ws.audit, env),
    rotateReleaseKey: (next) => rotateReleaseKey(ws.cairnDir, ws.audit, next, env),
    checkpointEvidence: (note) => releaseEvidence(ws.audit, ws.witnessing, note, (m) => process.stderr.write(`${m}\n`)),
  };
}
