import type { DatasetDeps } from '../../datasets/index.js';
import { checkEnvName } from './config.js';
import type { DeploymentRow, DeploymentStatus, DeploymentView } from './types.js';

function deploymentsQuery(deps: Pick<DatasetDeps, 'meta'>) {
  return deps.meta.db
    .selectFrom('deployments as d')
    .innerJoin('models as m', 'm.id', 'd.model_id')
    .innerJoin('model_versions as v', 'v.id', 'd.version_id')
    .leftJoin('model_versions as p', 'p.id', 'd.previous_version_id')
    .selectAll('d')
    .select([
      'm.name as model_name',
      'v.number as version_number',
      'v.digest as version_digest',
      'p.number as previous_number',
    ]);
}

type JoinedRow = DeploymentRow & {
  model_name: string;
  version_number: number;
  version_digest: string;
  previous_number: number | null;
};

function view(r: JoinedRow): DeploymentView {
  return {
    id: r.id,
    model: r.model_name,
    version: `${r.model_name}@v${r.version_number}`,
    digest: `sha256:${r.version_digest}`,
    env: r.env,
    alias: r.alias,
    status: r.status as DeploymentStatus,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    by: r.by,
    previous: r.previous_number === null ? null : `${r.model_name}@v${r.previous_number}`,
    hook: r.hook ? JSON.parse(r.hook) : null,
    health: r.health ? JSON.parse(r.health) : null,
    error: r.error,
  };
}

export async function viewById(deps: Pick<DatasetDeps, 'meta'>, id: string): Promise<DeploymentView> {
  return view((await deploymentsQuery(deps).where('d.id', '=', id).executeTakeFirstOrThrow()) as JoinedRow);
}

/** Deployments, newest first. */
export async function listDeployments(
  deps: Pick<DatasetDeps, 'meta'>,
  f: { env?: string; model?: string; limit?: number } = {},
): Promise<DeploymentView[]> {
  let q = deploymentsQuery(deps).orderBy('d.started_at', 'desc').orderBy('d.id', 'desc');
  if (f.env) q = q.where('d.env', '=', checkEnvName(f.env));
  if (f.model) q = q.where('m.name', '=', f.model);
  if (f.limit) q = q.limit(f.limit);
  return ((await q.execute()) as JoinedRow[]).map(view);
}
