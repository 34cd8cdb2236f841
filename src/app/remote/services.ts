import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isTerminal } from '../../compute/index.js';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import type { AuditService, AuditVerifyReport, WitnessReport } from '../../audit/index.js';
import { offlineAudit } from '../../audit/index.js';
import { CairnError } from '../../core/errors.js';
import type { LogsOptions, RunDetails, WaitOptions } from '../../compute/index.js';
import type { EvaluationReport, Registered, RegisterInput, ReleaseResult } from '../../models/index.js';
import { readSpecFile } from '../../core/yaml-doc.js';
import type { DossierResult } from '../../compliance/index.js';
import { collectRun } from './run-code.js';
import type { Services } from '../services.js';
import { malformed, type ApiClient } from './client.js';
import type { ServerSession } from './credentials.js';

/** A service method that needs files on this machine, which a server cannot see (yet). */
function local(what: string): () => Promise<never> {
  return async () => {
    throw new CairnError('NOT_ON_SERVER', `${what} works on a local workspace, not yet against a Cairn server`, {
      hint: 'run it in a workspace that is not linked to the server (unset CAIRN_SERVER, or `cairn logout`), then push',
    });
  };
}

/**
 * The server evaluates on its own side (docs/SERVER.md "Evaluations"): the suite's text travels,
 * the version and the test set are the server's. No progress reaches here; the report is the same.
 */
async function evaluateOnServer(
  api: ApiClient,
  ref: string,
  opts: Parameters<Services['models']['evaluate']>[1],
): Promise<EvaluationReport> {
  const { suiteText, suiteName } =
    'suitePath' in opts
      ? { suiteText: readSpecFile(opts.suitePath, 'the evaluation suite'), suiteName: basename(opts.suitePath) }
      : opts;
  return api.call<EvaluationReport>('models.evaluate', {
    body: { ref, data: opts.data, suite: suiteText, suiteName },
  });
}

/** Releases are written by the server (its release key) and land in this machine's folder. */
function remoteReleases(api: ApiClient): Services['releases'] {
  return {
    create: async (ref, outDir) => {
      const r = await api.call<{ result: ReleaseResult; files: Record<string, string> }>('releases.create', {
        body: { ref },
      });
      writeFiles(outDir, r.files, 'base64', 'release bundle');
      return { ...r.result, dir: outDir };
    },
    rotateKey: releaseKeyOnHost,
  };
}

/** The server's release key is rotated where it lives, like its audit key. */
async function releaseKeyOnHost(): Promise<never> {
  throw new CairnError(
    'NOT_ON_SERVER',
    "release keys rotate changes the server's own release key; run it on the server host",
    {
      hint: 'on the server host: CAIRN_WORKSPACE=<server data dir> cairn release keys rotate',
    },
  );
}

/** Witness configuration lives beside the server's key: an admin sets it on the server host. */
function serverHost(what: string): () => Promise<never> {
  return async () => {
    throw new CairnError('NOT_ON_SERVER', `${what} configures a log's own witnesses; run it on the server host`, {
      hint: 'on the server host: CAIRN_WORKSPACE=<server data dir> cairn audit witness …',
    });
  };
}

// What erasure by subject sends: the subject travels in the body, never in a URL.
const SUBJECT_ERASE_FIELDS = ['subject', 'key', 'scan', 'column', 'reason', 'dryRun', 'localOnly'] as const;

/**
 * The same service interfaces as the in-process ones, answered by a team server: the CLI does
 * not care which it talks to. Methods that need this machine's files say so (NOT_ON_SERVER).
 */
export function createRemoteServices(api: ApiClient, session: ServerSession): Services {
  const c = <T>(id: Parameters<ApiClient['call']>[0], input?: Parameters<ApiClient['call']>[1]) =>
    api.call<T>(id, input);
  return {
    compliance: {
      dossier: (ref, outDir) => dossierFromServer(api, session, ref, outDir),
      hold: (ref, opts) => c('compliance.hold', { body: { ref, ...pick(opts, ['reason', 'retainUntil']) } }),
      releaseHold: (ref, opts) => c('compliance.releaseHold', { body: { ref, ...pick(opts, ['reason', 'holdId']) } }),
      holds: (ref) => c('compliance.holds', { query: { ref } }),
      erase: (ref, opts) => c('compliance.erase', { body: { ref, ...pick(opts, ['reason', 'localOnly']) } }),
      eraseSubject: (ref, opts) => c('compliance.eraseSubject', { body: { ref, ...pick(opts, SUBJECT_ERASE_FIELDS) } }),
    },
    datasets: {
      add: local('data add'),
      checkout: local('data checkout'),
      status: local('data status'),
      list: () => c('datasets.list'),
      log: (name) => c('datasets.log', { query: { name } }),
      show: (ref, opts) => c('datasets.show', { query: { ref, limit: opts?.limit } }),
      diff: (from, to) => c('datasets.diff', { query: { from, to } }),
      tag: (ref, tag, opts) => c('datasets.tag', { body: { ref, tag, force: opts?.force === true } }),
      report: (ref, kind) => c('datasets.report', { query: { ref, kind } }),
    },
    runs: remoteRuns(api),
    computeUsage: {
      usage: (o) => c('compute.usage', { query: { by: o.by, since: o.since?.toISOString(), interval: o.interval } }),
      projects: () => c('compute.projects'),
      budgets: () => c('compute.budgets'),
      setProject: (name, settings) =>
        c('compute.setProject', { params: { name }, body: pick(settings, ['gpuQuota', 'budgetGpuHours', 'period']) }),
    },
    lineage: { of: (ref, direction) => c('lineage.of', { query: { ref, direction } }) },
    models: {
      register: (input) => registerOnServer(api, input),
      lock: local('model lock'),
      fetch: local('fetch'),
      evaluate: (ref, opts) => evaluateOnServer(api, ref, opts),
      compare: local('model compare'),
      list: () => c('models.list'),
      versions: (name) => c('models.versions', { params: { name } }),
      show: (ref) => c('models.show', { query: { ref } }),
      authors: async (ref) => {
        const v = await c<{ ref: string; authors: string[] }>('models.show', { query: { ref } });
        return { ref: v.ref, authors: v.authors };
      },
      card: (ref) => c('models.card', { query: { ref } }),
      evaluations: (ref) => c('models.evaluations', { query: { ref } }),
      readiness: (ref, alias) => c('models.readiness', { query: { ref, alias } }),
      verify: (ref) => c('models.verify', { body: { ref } }),
      setPolicy: (name, alias, policy) =>
        c('models.setPolicy', {
          params: { name, alias },
          body: pick(policy, ['suites', 'approvals', 'separateApprover', 'acceptImported']),
        }),
      approve: (ref, alias) => c('models.approve', { body: { ref, alias } }),
      promote: (ref, alias, how) => c('models.promote', { body: { ref, alias, ...(how ? { how } : {}) } }),
      removeAlias: async (name, alias) => {
        await c('models.removeAlias', { params: { name, alias } });
      },
      rollback: (name, alias, o) =>
        c('models.rollback', {
          params: { name, alias },
          body: { ...(o?.override ? { override: o.override } : {}), ...(o?.expect ? { expect: o.expect } : {}) },
        }),
      history: (name, o) =>
        c('models.history', { params: { name }, query: { alias: o?.alias, at: o?.at?.toISOString() } }),
    },
    releases: remoteReleases(api),
    deployments: {
      deploy: (ref, env) => c('deployments.deploy', { body: { ref, env } }),
      list: (f = {}) => c('deployments.list', { query: pick(f, ['env', 'model', 'limit']) }),
      flushOutbox: local('deploy outbox flush'),
      dora: (o = {}) => c('deployments.dora', { query: pick(o, ['model', 'since', 'until']) }),
    },
    ...workspaceOnly(),
    audit: remoteAudit(api, session),
  };
}

/** Services that act on this machine's files and stores: not offered by a server (yet). */
function workspaceOnly(): Pick<Services, 'transfer' | 'dataprep' | 'admin'> {
  return {
    transfer: {
      listRemotes: local('remote ls'),
      setDefaultRemote: local('remote default'),
      exportRemoteKey: local('remote key'),
      addRemote: local('remote add'),
      removeRemote: local('remote rm'),
      push: local('push'),
      pull: local('pull'),
      clone: local('clone'),
    },
    dataprep: {
      profile: local('data profile'),
      validate: local('data validate'),
      inferSuite: local('data suite infer'),
      clean: local('data clean'),
      split: local('data split'),
      diffTables: local('a row-level table diff'),
    },
    admin: { fsck: local('fsck'), gc: local('gc') },
  };
}

function remoteRuns(api: ApiClient): Services['runs'] {
  return {
    submit: (input) =>
      api.call('runs.submit', {
        body: {
          ...collectRun(input.spec),
          ...(input.sets?.length ? { sets: input.sets } : {}),
          ...(input.backend ? { backend: input.backend } : {}),
          force: input.force === true,
        },
      }),
    plan: local('run plan'),
    repro: local('repro'),
    dag: local('dag'),
    find: (o) =>
      api.call('runs.find', {
        query: {
          ...pick(o, ['project', 'status', 'filter', 'sort', 'limit', 'offset']),
          columns: o.columns?.join(','),
        },
      }),
    fields: (o = {}) => api.call('runs.fields', { query: pick(o, ['project']) }),
    curves: (ids, name, buckets, x) => api.call('runs.curves', { query: { ids: ids.join(','), name, buckets, x } }),
    compare: (refs, o = {}) =>
      api.call('runs.compare', {
        query: {
          refs: refs.join(','),
          lowerIsBetter: o.lowerIsBetter?.join(','),
          higherIsBetter: o.higherIsBetter?.join(','),
        },
      }),
    tail: (id, o) => api.call('runs.tail', { params: { id }, query: { stream: o.stream, lines: o.lines } }),
    logs: (id, o) => followLogs(api, id, o),
    wait: (id, o) => waitFor(api, id, o),
    list: (o = {}) => api.call('runs.list', { query: pick(o, ['project', 'status', 'limit']) }),
    show: (id) => api.call('runs.show', { params: { id } }),
    details: (id) => api.call('runs.show', { params: { id } }),
    metrics: (id) => api.call('runs.metrics', { params: { id } }),
    metricSeries: (id, name, buckets) => api.call('runs.metricSeries', { params: { id, name }, query: { buckets } }),
    cancel: (id, o) => api.call('runs.cancel', { params: { id }, body: { wait: o?.wait === true } }),
    why: (id) => api.call('runs.why', { params: { id } }),
    // The server applies this itself to what it answers; a client has no use for it.
    outputs: local('run outputs'),
  };
}

/** Polls the server until the run ends (or `timeoutMs` passes): the same contract as a workspace's wait. */
async function waitFor(api: ApiClient, id: string, o: WaitOptions = {}): Promise<RunDetails> {
  const started = Date.now();
  for (;;) {
    const r = await api.call<RunDetails>('runs.show', { params: { id } });
    o.onTick?.(r);
    if (isTerminal(r.status)) return r;
    if (o.timeoutMs !== undefined && Date.now() - started > o.timeoutMs)
      throw new CairnError('LOCKED', `run ${id} is still ${r.status} after ${o.timeoutMs} ms`, { data: { run: id } });
    await new Promise((res) => setTimeout(res, o.pollMs ?? 1000));
  }
}

async function followLogs(api: ApiClient, id: string, o: LogsOptions): Promise<void> {
  let offset = 0;
  for (;;) {
    const r = await api.call<{ data: string; offset: number; ended: boolean }>('runs.logs', {
      params: { id },
      query: { stderr: o.stderr === true, offset },
    });
    if (r.data.length) o.write(Buffer.from(r.data, 'base64'));
    offset = r.offset;
    if (!o.follow || r.ended || o.closed?.()) return;
    await new Promise((res) => setTimeout(res, o.pollMs ?? 1000));
  }
}

function remoteAudit(api: ApiClient, session: ServerSession): AuditService {
  return {
    events: (q) =>
      api.call('audit.events', { query: pick(q, ['actor', 'action', 'target', 'outcome', 'since', 'until', 'limit']) }),
    event: (index) => api.call('audit.event', { params: { index } }),
    prove: (index) => api.call('audit.prove', { params: { index } }),
    checkpoint: () => api.call('audit.checkpoint'),
    // A server's witnesses are configured on its host (docs/AUDIT.md §8); clients see how its checkpoints stand.
    witnessConfig: serverHost('audit witness ls'),
    addWitness: serverHost('audit witness add'),
    removeWitness: serverHost('audit witness rm'),
    setWitnessPolicy: serverHost('audit witness policy'),
    setTimestampAuthority: serverHost('audit timestamp set'),
    rotateKey: serverHost('audit keys rotate'),
    witnessed: async () => {
      const cp = await api.call<{ witnessing?: WitnessReport | null }>('audit.checkpoint');
      if (!cp.witnessing)
        throw new CairnError(
          'POLICY_UNMET',
          'the server has no witnesses configured: its checkpoints are not witnessed',
        );
      return cp.witnessing;
    },
    consistency: async (from, to) => {
      if (to !== undefined && to < from) throw new CairnError('USAGE', 'a consistency proof goes from a smaller size');
      const cp = await api.call<{ consistency: string[] }>('audit.checkpoint', { query: { since: from } });
      return cp.consistency;
    },
    // The server's bundle, written here and checked with the pinned key before it is called an export.
    export: async (dir) => {
      writeBundle(dir, await bundleFiles(api));
      const r = await offlineAudit.verifyBundle(
        dir,
        offlineAudit.loadVerifierKey(session.verifierKey),
        session.seen?.note,
      );
      if (!r.ok)
        throw new CairnError(
          'CHECK_FAILED',
          `the server's audit bundle does not verify: ${r.firstBad?.message ?? 'see problems'}`,
          {
            data: { problems: r.problems },
          },
        );
      return { dir, size: r.size, root: r.root, checkpoints: r.checkpoints, inclusionProofs: r.inclusionProofsChecked };
    },
    // The server reconciles its rows with its log; this client checks the log itself, with the key it
    // pinned at login and against the last checkpoint it saw, so the server's word is not the only proof.
    verify: async (opts) => {
      const server = await api.call<AuditVerifyReport>('audit.verify', {
        body: { deep: opts.deep === true, artifacts: opts.artifacts === true },
      });
      const dir = mkdtempSync(join(tmpdir(), 'cairn-verify-'));
      try {
        writeBundle(dir, await bundleFiles(api));
        const key = offlineAudit.loadVerifierKey(session.verifierKey);
        const mine = await offlineAudit.verifyBundle(dir, key, session.seen?.note);
        const problems = [...mine.problems, ...server.problems];
        return {
          ...server,
          ok: server.ok && mine.ok,
          trusted: { size: mine.size },
          redacted: mine.redacted,
          problems,
          firstBad: mine.firstBad ?? server.firstBad,
        };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

async function bundleFiles(api: ApiClient): Promise<Record<string, string>> {
  const files = (await api.call<{ files?: unknown } | null>('audit.bundle'))?.files;
  if (!files || typeof files !== 'object' || Object.values(files).some((v) => typeof v !== 'string'))
    throw malformed(api.url, 'audit bundle');
  return files as Record<string, string>;
}

function writeBundle(dir: string, files: Record<string, string>): void {
  writeFiles(dir, files, 'utf8', 'audit bundle');
}

/**
 * Writes files a server sent into a new folder, refusing any name that would land outside it
 * (absolute, `..`, through a symlink) before writing anything.
 */
function writeFiles(dir: string, files: Record<string, string>, encoding: 'utf8' | 'base64', what: string): void {
  const root = resolve(dir);
  if (existsSync(root) && readdirSync(root).length > 0)
    throw new CairnError('ALREADY_EXISTS', `${root} exists and is not empty`, { hint: 'give a new folder' });
  const planned = Object.keys(files).map((rel) => {
    const out = resolve(root, rel);
    if (rel.length === 0 || isAbsolute(rel) || !out.startsWith(root + sep))
      throw new CairnError('PATH_UNSAFE', `the server's ${what} names a file outside it: ${JSON.stringify(rel)}`);
    return [out, rel] as const;
  });
  mkdirSync(root, { recursive: true });
  for (const [out, rel] of planned) {
    mkdirSync(dirname(out), { recursive: true });
    // 'wx': never through a file or link that is already there.
    writeFileSync(out, Buffer.from(files[rel]!, encoding), { flag: 'wx' });
  }
}

/**
 * Only the fields the API takes: callers hand over their whole options object (a CLI handler's
 * includes --json and --workspace), and the server refuses unknown fields.
 */
function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Record<string, never> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (o[k] !== undefined) out[k as string] = o[k];
  return out as Record<string, never>;
}

/**
 * `model register` against a server: only from a run the server holds (its outputs are already
 * in the server's store); the card's files are read here and sent as content.
 */
async function registerOnServer(api: ApiClient, input: RegisterInput): Promise<Registered> {
  if (input.path || !input.fromRun)
    throw new CairnError(
      'NOT_ON_SERVER',
      'model register --path reads files on this machine, which the server cannot see',
      {
        hint: 'register from a run on the server (cairn run …, then --from-run <run>), or register --path in a workspace and push it',
      },
    );
  const body: Record<string, unknown> = { fromRun: input.fromRun };
  if (input.format) body.format = input.format;
  if (input.signature) {
    try {
      body.signature = JSON.parse(readFileSync(input.signature, 'utf8'));
    } catch (e) {
      throw new CairnError('INVALID_INPUT', `${input.signature}: not a readable JSON file (${(e as Error).message})`);
    }
  }
  if (input.intendedUse) body.intendedUse = readFileSync(input.intendedUse, 'utf8');
  return api.call<Registered>('models.register', { params: { name: input.name }, body });
}

/**
 * The dossier the server built, written here only after every inclusion proof in it checks out
 * against the key pinned at login: a dossier is evidence, so the server's word is not enough.
 */
async function dossierFromServer(
  api: ApiClient,
  session: ServerSession,
  ref: string,
  outDir: string,
): Promise<DossierResult> {
  const r = await api.call<{ result?: Omit<DossierResult, 'dir'>; files?: unknown }>('compliance.dossier', {
    query: { ref },
  });
  const files = r.files as Record<string, string> | undefined;
  if (!r.result || !files || typeof files !== 'object' || Object.values(files).some((v) => typeof v !== 'string'))
    throw malformed(api.url, 'dossier');
  const key = offlineAudit.loadVerifierKey(session.verifierKey);
  const problems: string[] = [];
  if (files['verifier-key.txt']?.trim() !== session.verifierKey)
    problems.push('verifier-key.txt is not the key pinned at login');
  for (const [name, text] of Object.entries(files))
    if (name.startsWith('proofs/') || name.startsWith(`proofs${sep}`)) {
      const p = offlineAudit.verifyProof(text, key);
      if (!p.ok || !p.keyTrusted) problems.push(`${name}: ${p.problems.join('; ') || 'not signed by the pinned key'}`);
    }
  if (problems.length)
    throw new CairnError('CHECK_FAILED', `the server's dossier does not verify: ${problems[0]}`, {
      data: { problems },
    });
  writeFiles(outDir, files, 'utf8', 'dossier');
  return { ...r.result, dir: resolve(outDir) };
}
