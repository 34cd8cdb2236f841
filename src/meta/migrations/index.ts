import type { Migration, MigrationProvider } from 'kysely';
import { initial } from './0001-initial.js';
import { dataprep } from './0002-dataprep.js';
import { compute } from './0003-compute.js';
import { models } from './0004-models.js';
import { deploy } from './0005-deploy.js';
import { metricSummaries } from './0006-metric-summaries.js';
import { server } from './0007-server.js';
import { runs } from './0008-runs.js';
import { identityGeneration } from './0009-identity-generation.js';
import { retention } from './0010-retention.js';
import { metricBlocks } from './0011-metric-blocks.js';
import { serverSessions } from './0012-server-sessions.js';
import { storeLocks } from './0014-store-locks.js';
import { runImports } from './0015-run-imports.js';
import { evaluationImports } from './0016-evaluation-imports.js';
import { browserSessionGeneration } from './0017-browser-session-generation.js';
import { rowMacs } from './0018-row-macs.js';

/** Migrations live in code (not files on disk) so a bundled CLI carries them. Append only. */
export const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-dataprep': dataprep,
  '0003-compute': compute,
  '0004-models': models,
  '0005-deploy': deploy,
  '0006-metric-summaries': metricSummaries,
  '0007-server': server,
  '0008-runs': runs,
  '0009-identity-generation': identityGeneration,
  '0010-retention': retention,
  '0011-metric-blocks': metricBlocks,
  '0012-server-sessions': serverSessions,
  '0014-store-locks': storeLocks,
  '0015-run-imports': runImports,
  '0016-evaluation-imports': evaluationImports,
  '0017-browser-session-generation': browserSessionGeneration,
  '0018-row-macs': rowMacs,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
