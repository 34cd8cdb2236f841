import type { Selectable } from 'kysely';
import type { DatasetDeps } from '../../datasets/index.js';
import type { DeploymentsTable } from '../../meta/schema.js';
import type { ModelRow, ModelVersionRow } from '../registry.js';
import type { DeployConfig, EnvConfig } from './config.js';
import type { RetryPolicy } from './outbox.js';
import type { BookkeepingDb } from '../../meta/read-db.js';

export type DeploymentRow = Selectable<DeploymentsTable>;
export type DeploymentStatus = 'pending' | 'succeeded' | 'failed' | 'rolled_back';

/**
 * What deployments need beyond the dataset ports, given by app/: the workspace's .cairn folder
 * (hook logs; hooks run in the folder above it), its deploy.json (read on each call, so an edit
 * takes effect at once), the environment hooks run with and secrets are read from, and the
 * User-Agent webhooks are sent with.
 */
export type DeployDeps = DatasetDeps & {
  /** Webhook leases and retry times: bookkeeping, not audited state. */
  bookkeeping: BookkeepingDb;
  cairnDir: string;
  deployConfig(): DeployConfig | null;
  env: NodeJS.ProcessEnv;
  userAgent: string;
};

export interface DeployOptions {
  /** The environment hooks run with and the webhook secret is read from (default: the deps' env). */
  env?: NodeJS.ProcessEnv;
  retry?: Partial<RetryPolicy>;
  /** Between SIGTERM and SIGKILL of a timed-out hook's process group (default 2000). */
  killGraceMs?: number;
  /** Between health-check URL polls (default 1000). */
  healthPollMs?: number;
}

/** What the deploy hook did. `tail` (the end of its output) stays in the deployment row, out of the audit log. */
export type HookResult =
  | {
      kind: 'command';
      ok: boolean;
      exitCode: number | null;
      signal: string | null;
      timedOut: boolean;
      log: string;
      tail?: string;
    }
  | {
      kind: 'webhook';
      ok: boolean;
      url: string;
      delivery: string;
      attempts: number;
      status: number | null;
      lastError: string | null;
    };

export type HealthResult =
  | { kind: 'none'; ok: true }
  | { kind: 'skipped'; ok: false; why: string }
  | {
      kind: 'command';
      ok: boolean;
      exitCode: number | null;
      signal: string | null;
      timedOut: boolean;
      log: string;
      tail?: string;
    }
  | {
      kind: 'url';
      ok: boolean;
      url: string;
      attempts: number;
      status: number | null;
      lastError: string | null;
      timedOut: boolean;
    };

export interface RollbackResult {
  to: string;
  ok: boolean;
  hook:
    | HookResult
    | {
        kind: 'webhook';
        queued: true;
        delivery: string;
        delivered: boolean;
        attempts: number;
        lastError: string | null;
      };
  health: HealthResult | null;
  error: string | null;
}

export interface DeploymentView {
  id: string;
  model: string;
  version: string;
  digest: string;
  env: string;
  alias: string | null;
  status: DeploymentStatus;
  startedAt: string;
  endedAt: string | null;
  by: string;
  previous: string | null;
  hook: unknown;
  health: unknown;
  error: string | null;
}

/** One deployment being carried out: its row, its environment and the version it deploys. */
export interface Ctx {
  deps: DeployDeps;
  opts: DeployOptions;
  retry: RetryPolicy;
  cfg: EnvConfig;
  model: ModelRow;
  version: ModelVersionRow;
  deployment: DeploymentRow;
  secret: string | null;
}
