import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Services } from '../app/services.js';
import { isTerminal, parseRunSpec } from '../compute/index.js';
import type { ServerRuntime } from '../app/server.js';
import type { OperationId } from '../app/remote/contract.js';
import { CairnError, isCairnError } from '../core/errors.js';
import { filesOf, inTempFolder } from './temp-files.js';
import { parseExpiry, parseRole, type Principal } from '../identity/index.js';
import { storeHandlers } from './store-handlers.js';
import { showDataset } from './show-dataset.js';
import { placeRunCode } from './run-code.js';
import { suiteOf, type EvalSuite } from '../models/index.js';

export interface HandlerInput {
  params: Record<string, string | number>;
  query: Record<string, string | number | boolean | undefined>;
  body: Record<string, unknown>;
  principal: Principal;
}

type Handler = (s: Services, i: HandlerInput, rt: ServerRuntime) => Promise<unknown>;

const str = (v: unknown): string => String(v);
const opt = <T>(v: T | undefined): T | undefined => (v === undefined || v === '' ? undefined : v);
const num = (v: unknown): number | undefined => (v === undefined ? undefined : Number(v));

/**
 * A suite's `command` predictor and `command` checks are shell commands from the client: on a
 * server they would run in the server's process, with its environment (its database, store and
 * OIDC secrets). The server refuses such a suite before it fetches or runs anything.
 */
export function refuseSuiteCommands(suite: EvalSuite): void {
  const commands = [
    ...(suite.predictor?.kind === 'command' ? ['predictor: {command: …}'] : []),
    ...suite.checks.filter((c) => c.kind === 'command').map((c) => `check at line ${c.line}: command`),
  ];
  if (commands.length === 0) return;
  throw new CairnError(
    'NOT_ON_SERVER',
    `suite ${suite.name} runs shell commands (${commands.join('; ')}); a server does not run a client's commands in its own process`,
    {
      hint:
        'evaluate locally (cairn model evaluate in a workspace, then cairn push), or run the predictor as a ' +
        '`cairn run` job and let the suite read its output, or use a built-in or ONNX predictor',
      data: { suite: suite.name, commands },
    },
  );
}

/** What each operation of the contract does, in terms of the same services a workspace builds. */
export const handlers: Record<OperationId, Handler> = {
  whoami: async (_s, i, rt) => ({
    user: i.principal.name,
    kind: i.principal.kind,
    groups: i.principal.groups,
    origin: rt.origin,
    verifierKey: rt.verifierKey,
  }),
  'datasets.list': (s) => s.datasets.list(),
  'datasets.log': (s, i) => s.datasets.log(str(i.query.name)),
  'datasets.show': (s, i, rt) => showDataset(s, rt, str(i.query.ref), withDefined({ limit: num(i.query.limit) })),
  'datasets.diff': (s, i) => s.datasets.diff(str(i.query.from), str(i.query.to)),
  'datasets.report': (s, i) => s.datasets.report(str(i.query.ref), opt(i.query.kind as string)),
  'datasets.tag': (s, i) => s.datasets.tag(str(i.body.ref), str(i.body.tag), { force: i.body.force === true }),
  'runs.submit': async (s, i, rt) => {
    const spec = await placeRunCode(
      rt.runCodeDir,
      str(i.body.spec),
      str(i.body.specName),
      i.body.files as Record<string, unknown>,
    );
    await fetchPushedInputs(s, spec);
    return s.runs.submit(
      withDefined({
        spec,
        sets: i.body.sets as string[] | undefined,
        backend: i.body.backend as 'local' | 'slurm' | undefined,
        force: i.body.force === true,
      }),
    );
  },
  'runs.logs': async (s, i) => {
    const id = str(i.params.id);
    const status = (await s.runs.details(id)).status;
    const chunks: Buffer[] = [];
    await s.runs.logs(id, {
      stderr: i.query.stderr === true || i.query.stderr === 'true',
      write: (c) => chunks.push(c),
    });
    const all = Buffer.concat(chunks);
    const from = Math.min(num(i.query.offset) ?? 0, all.length);
    return { data: all.subarray(from).toString('base64'), offset: all.length, ended: isTerminal(status) };
  },
  'runs.find': (s, i) =>
    s.runs.find(
      withDefined({
        project: opt(i.query.project as string),
        status: opt(i.query.status as string),
        filter: opt(i.query.filter as string),
        sort: opt(i.query.sort as string),
        columns: i.query.columns ? str(i.query.columns).split(',') : undefined,
        limit: num(i.query.limit),
        offset: num(i.query.offset),
      }),
    ),
  'runs.fields': (s, i) => s.runs.fields(withDefined({ project: opt(i.query.project as string) })),
  'runs.curves': (s, i) =>
    s.runs.curves(
      str(i.query.ids).split(','),
      str(i.query.name),
      num(i.query.buckets) ?? 500,
      ((i.query.x as string | undefined) ?? 'step') as 'step' | 'time',
    ),
  'runs.compare': (s, i) =>
    s.runs.compare(
      str(i.query.refs).split(','),
      withDefined({
        lowerIsBetter: i.query.lowerIsBetter ? str(i.query.lowerIsBetter).split(',') : undefined,
        higherIsBetter: i.query.higherIsBetter ? str(i.query.higherIsBetter).split(',') : undefined,
      }),
    ),
  'runs.tail': (s, i) =>
    s.runs.tail(str(i.params.id), {
      stream: ((i.query.stream as string | undefined) ?? 'stderr') as 'stdout' | 'stderr',
      lines: num(i.query.lines) ?? 20,
    }),
  'runs.list': (s, i) =>
    s.runs.list(
      withDefined({
        project: opt(i.query.project as string),
        status: opt(i.query.status as string),
        limit: num(i.query.limit),
      }),
    ),
  'runs.show': (s, i) => s.runs.show(str(i.params.id)),
  'runs.metrics': (s, i) => s.runs.metrics(str(i.params.id)),
  'runs.metricSeries': (s, i) => s.runs.metricSeries(str(i.params.id), str(i.params.name), num(i.query.buckets) ?? 200),
  'runs.why': (s, i) => s.runs.why(str(i.params.id)),
  'runs.cancel': (s, i) => s.runs.cancel(str(i.params.id), { wait: i.body.wait === true }),
  'models.list': (s) => s.models.list(),
  'models.versions': (s, i) => s.models.versions(str(i.params.name)),
  'models.show': (s, i) => s.models.show(str(i.query.ref)),
  'models.card': (s, i) => s.models.card(str(i.query.ref)),
  'models.evaluations': (s, i) => s.models.evaluations(str(i.query.ref)),
  'models.readiness': (s, i) => s.models.readiness(str(i.query.ref), str(i.query.alias)),
  'models.verify': async (s, i) => {
    await fetchPushedModel(s, str(i.body.ref));
    return s.models.verify(str(i.body.ref));
  },
  // The server evaluates on its own side: the version, the test set and any champion the suite
  // compares with are read from its store (fetched first when pushed), never from the client.
  'models.evaluate': async (s, i) => {
    const src = { suiteText: str(i.body.suite), suiteName: str(i.body.suiteName) };
    const { suite } = suiteOf(src); // a suite that does not parse is refused before any fetch
    refuseSuiteCommands(suite); // and one that would run a contributor's shell here, too
    const ref = str(i.body.ref);
    await fetchPushedModel(s, ref);
    await fetchPushedVersion(s, str(i.body.data));
    await fetchChampions(s, ref, suite);
    return s.models.evaluate(ref, { ...src, data: str(i.body.data) });
  },
  'models.history': (s, i) =>
    s.models.history(
      str(i.params.name),
      withDefined({ alias: opt(i.query.alias as string), at: i.query.at ? new Date(str(i.query.at)) : undefined }),
    ),
  'models.setPolicy': (s, i) =>
    s.models.setPolicy(str(i.params.name), str(i.params.alias), {
      suites: i.body.suites as string[],
      approvals: Number(i.body.approvals),
      separateApprover: i.body.separateApprover === true,
      ...(i.body.acceptImported === true ? { acceptImported: true } : {}),
    }),
  'models.approve': (s, i) => s.models.approve(str(i.body.ref), str(i.body.alias)),
  'models.promote': async (s, i) => {
    await fetchPushedModel(s, str(i.body.ref));
    return s.models.promote(
      str(i.body.ref),
      str(i.body.alias),
      (i.body.how as 'promote' | 'set' | undefined) ?? 'promote',
    );
  },
  'models.removeAlias': async (s, i) => {
    await s.models.removeAlias(str(i.params.name), str(i.params.alias));
    return { removed: true };
  },
  'models.rollback': (s, i) =>
    s.models.rollback(
      str(i.params.name),
      str(i.params.alias),
      withDefined({ override: opt(i.body.override as string), expect: opt(i.body.expect as string) }),
    ),
  // The card's files arrive as content: the registry reads them from paths, so they are written
  // into a private temporary folder for the call.
  'models.register': (s, i) =>
    inTempFolder('cairn-register-', async (out) => {
      await mkdir(out, { mode: 0o700 });
      const signature = i.body.signature === undefined ? undefined : join(out, 'signature.json');
      if (signature) await writeFile(signature, JSON.stringify(i.body.signature));
      const intendedUse = i.body.intendedUse === undefined ? undefined : join(out, 'intended-use.md');
      if (intendedUse) await writeFile(intendedUse, str(i.body.intendedUse));
      return s.models.register(
        withDefined({
          name: str(i.params.name),
          fromRun: str(i.body.fromRun),
          format: opt(i.body.format as string),
          signature,
          intendedUse,
        }),
      );
    }),
  'releases.create': (s, i) => releaseFiles(s, str(i.body.ref)),
  'deployments.list': (s, i) =>
    s.deployments.list(
      withDefined({ env: opt(i.query.env as string), model: opt(i.query.model as string), limit: num(i.query.limit) }),
    ),
  // The hook is handed the version's files: a pushed version's are fetched from the store first.
  'deployments.deploy': async (s, i) => {
    await fetchPushedModel(s, str(i.body.ref));
    return s.deployments.deploy(str(i.body.ref), str(i.body.env));
  },
  'deployments.dora': (s, i) =>
    s.deployments.dora(
      withDefined({
        model: opt(i.query.model as string),
        since: opt(i.query.since as string),
        until: opt(i.query.until as string),
      }),
    ),
  'audit.events': (s, i) => s.audit.events(withDefined({ ...i.query, limit: num(i.query.limit) }) as never),
  'audit.event': (s, i) => s.audit.event(Number(i.params.index)),
  'audit.prove': (s, i) => s.audit.prove(Number(i.params.index)),
  'audit.checkpoint': async (s, i) => {
    const cp = await s.audit.checkpoint();
    const since = num(i.query.since);
    if (since !== undefined && since > cp.size)
      throw new CairnError('AUDIT_INCONSISTENT', `the log has ${cp.size} entries; the client saw ${since}`, {
        hint: 'the server lost entries it had signed: report this to the server admin',
      });
    return { ...cp, consistency: since === undefined ? [] : await s.audit.consistency(since, cp.size) };
  },
  'audit.verify': (s, i) => s.audit.verify({ deep: i.body.deep === true, artifacts: i.body.artifacts === true }),
  'audit.bundle': () => {
    throw new CairnError('INTERNAL', 'the bundle is streamed by the HTTP layer');
  },
  'lineage.of': (s, i) =>
    s.lineage.of(str(i.query.ref), ((i.query.direction as string | undefined) ?? 'both') as 'up' | 'down' | 'both'),
  'compute.usage': (s, i) =>
    s.computeUsage.usage(
      withDefined({
        by: ((i.query.by as string | undefined) ?? 'project') as 'project' | 'user' | 'run',
        since: i.query.since ? new Date(str(i.query.since)) : undefined,
        interval: opt(i.query.interval as 'day' | 'week' | 'month' | undefined),
      }),
    ),
  'compute.projects': (s) => s.computeUsage.projects(),
  'compute.budgets': (s) => s.computeUsage.budgets(),
  'compute.setProject': (s, i) => s.computeUsage.setProject(str(i.params.name), i.body as never),
  'accounts.list': (_s, _i, rt) => rt.identity.accounts(),
  'accounts.add': (_s, i, rt) =>
    rt.identity.addAccount(
      withDefined({
        name: str(i.body.name),
        kind: i.body.kind as 'user' | 'service' | undefined,
        email: i.body.email as string | undefined,
        groups: i.body.groups as string[] | undefined,
        role: i.body.role && i.body.role !== 'none' ? parseRole(str(i.body.role)) : undefined,
        project: i.body.project as string | undefined,
      }),
    ),
  'accounts.disable': async (_s, i, rt) => {
    await rt.identity.disable(str(i.params.name));
    return { disabled: true };
  },
  'grants.set': async (_s, i, rt) => {
    const role = str(i.body.role);
    await rt.identity.grant(str(i.body.subject), str(i.body.project), role === 'none' ? null : parseRole(role));
    return { subject: i.body.subject, project: i.body.project, role };
  },
  'tokens.list': (_s, i, rt) => rt.identity.tokens(opt(i.query.user as string)),
  'tokens.create': (_s, i, rt) =>
    rt.identity.createToken(
      str(i.body.user),
      withDefined({
        expiresInMs: parseExpiry(str(i.body.expires ?? '90d')),
        label: i.body.label as string | undefined,
      }),
    ),
  'tokens.revoke': async (_s, i, rt) => {
    await rt.identity.revokeToken(str(i.params.id));
    return { revoked: true };
  },
  // The dossier is built in a private temporary folder and sent back as text; the server's own
  // folder name is left out of the answer.
  'compliance.dossier': (s, i) =>
    inTempFolder('cairn-dossier-', async (out) => {
      const { dir: _dir, ...result } = await s.compliance.dossier(str(i.query.ref), out);
      return { result, files: await filesOf(out, 'utf8', MAX_DOSSIER_BYTES) };
    }),
  'compliance.holds': (s, i) => s.compliance.holds(opt(i.query.ref as string)),
  'compliance.hold': (s, i) =>
    s.compliance.hold(
      str(i.body.ref),
      withDefined({ reason: str(i.body.reason), retainUntil: opt(i.body.retainUntil as string) }),
    ),
  'compliance.releaseHold': (s, i) =>
    s.compliance.releaseHold(
      str(i.body.ref),
      withDefined({ reason: str(i.body.reason), holdId: opt(i.body.holdId as string) }),
    ),
  'compliance.erase': (s, i) =>
    s.compliance.erase(str(i.body.ref), { reason: str(i.body.reason), localOnly: i.body.localOnly === true }),
  'compliance.eraseSubject': (s, i) =>
    s.compliance.eraseSubject(
      str(i.body.ref),
      withDefined({
        subject: str(i.body.subject),
        key: opt(i.body.key as string),
        scan: i.body.scan === true,
        column: opt(i.body.column as string),
        reason: opt(i.body.reason as string),
        dryRun: i.body.dryRun === true,
        localOnly: i.body.localOnly === true,
      }),
    ),
  ...storeHandlers,
};

/** A dossier is text and proofs; past this something is wrong with the model's history, not the transport. */
const MAX_DOSSIER_BYTES = 64 * 1024 * 1024;

/** Release bundles hold the model's files: past this they should be fetched from the store, not through JSON. */
const MAX_RELEASE_BYTES = 256 * 1024 * 1024;

/** Builds the bundle in a private temporary folder, sends back every file, and removes the folder. */
async function releaseFiles(s: Services, ref: string) {
  // The bundle carries the version's files: a pushed version's are fetched from the store first.
  await fetchPushedModel(s, ref);
  return inTempFolder('cairn-release-', async (out) => {
    const result = await s.releases.create(ref, out);
    const files = await filesOf(out, 'base64', MAX_RELEASE_BYTES).catch((err: unknown) => {
      if (!isCairnError(err, 'LIMIT_EXCEEDED')) throw err;
      throw new CairnError('LIMIT_EXCEEDED', `the release of ${ref} is larger than ${MAX_RELEASE_BYTES} bytes`, {
        hint: 'create it on the server host, or in a workspace that pulled the version',
      });
    });
    return { result, files };
  });
}

/** Drops undefined fields: the services' option types are exact (exactOptionalPropertyTypes). */
function withDefined<T extends Record<string, unknown>>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never;
}

/**
 * A model version pushed to the server came as metadata only, like a dataset version: before its
 * bytes are read (verify and promote re-hash them, a release bundles them, a deploy hands them to
 * its hook) its files version is pulled from the store into the server's workspace, once
 * (docs/SERVER.md "Model versions").
 */
async function fetchPushedModel(s: Services, ref: string): Promise<void> {
  const files = (await s.models.show(ref)).files;
  if (!files) return;
  try {
    await s.datasets.show(files, { limit: 1 });
    return;
  } catch (e) {
    if (!isCairnError(e) || e.code !== 'MISSING_OBJECT') throw e;
  }
  await s.transfer.pull([files], { remote: 'store' });
}

/**
 * A version pushed to the server is imported as metadata only (its bytes stay in the store), so
 * before a run on the server's machines reads one, its packs are pulled from the store into the
 * server's workspace — once: a version already here answers `show` and is left alone.
 */
async function fetchPushedInputs(s: Services, specPath: string): Promise<void> {
  const spec = parseRunSpec(await readFile(specPath, 'utf8'), specPath);
  for (const ref of new Set(Object.values(spec.inputs))) await fetchPushedVersion(s, ref);
}

/** A dataset version pushed to the server, pulled from the store into its workspace once (a version here is left alone). */
async function fetchPushedVersion(s: Services, ref: string): Promise<void> {
  try {
    await s.datasets.show(ref, { limit: 1 });
    return;
  } catch (e) {
    if (!isCairnError(e) || e.code !== 'MISSING_OBJECT') throw e;
  }
  await s.transfer.pull([ref], { remote: 'store' });
}

/** The versions a suite compares with (`against`), fetched like the candidate; one that is not there fails its check later. */
async function fetchChampions(s: Services, ref: string, suite: EvalSuite): Promise<void> {
  const name = (await s.models.show(ref)).ref.split('@')[0]!;
  for (const c of suite.checks) {
    if (c.kind !== 'non_regression' && c.kind !== 'schema') continue;
    await fetchPushedModel(s, c.against.includes('@') ? c.against : `${name}@${c.against}`).catch((e: unknown) => {
      if (!isCairnError(e, 'NOT_FOUND')) throw e;
    });
  }
}
