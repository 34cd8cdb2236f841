import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { Selectable } from 'kysely';
import { canonicalJson } from '../core/canonical-json.js';
import { CairnError, errorCatalogue } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import { isoUtc } from '../core/time.js';
import { addVersion } from '../datasets/index.js';
import type { DatasetDeps } from '../datasets/index.js';
import { treeLoader } from '../datasets/index.js';
import { addEdges } from '../meta/repos/lineage.js';
import { compiledRead } from '../meta/compiled-read.js';
import type { ReadDb } from '../meta/read-db.js';
import type { ModelVersionsTable, ModelsTable } from '../meta/schema.js';
import { listFlat } from '../storage/tree/list.js';
import { fileChunks } from '../storage/tree/node.js';
import { buildCard, type ModelCard } from './card.js';
import { loggedModelVersion } from './logged-version.js';
import { getRun, type RunRow } from '../compute/index.js';

export type ModelRow = Selectable<ModelsTable>;
export type ModelVersionRow = Selectable<ModelVersionsTable>;

export interface RegisterInput {
  name: string;
  fromRun?: string;
  path?: string;
  format?: string;
  /** A JSON file: { inputs: [{name, type, shape?}], outputs: [...] }. */
  signature?: string;
  /** A Markdown file with the sections a person writes (intended use, limitations…). */
  intendedUse?: string;
  message?: string;
}

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function checkModelName(name: string): string {
  if (!MODEL_NAME.test(name))
    throw new CairnError('INVALID_NAME', `${JSON.stringify(name)} is not a valid model name`, {
      hint: 'letters, digits, ".", "_" and "-" (e.g. spam-classifier)',
    });
  return name;
}

/** `name`, `name@v3`, `name@<alias>` or `name@sha256:<prefix>` → a model version. */
export async function resolveModel(
  deps: Pick<DatasetDeps, 'meta'>,
  ref: string,
): Promise<{ model: ModelRow; version: ModelVersionRow; ref: string }> {
  const at = ref.indexOf('@');
  const name = at < 0 ? ref : ref.slice(0, at);
  const sel = at < 0 ? 'latest' : ref.slice(at + 1);
  const db = deps.meta.db;
  const model = await db.selectFrom('models').selectAll().where('name', '=', name).executeTakeFirst();
  if (!model)
    throw new CairnError('NOT_FOUND', `no model named ${JSON.stringify(name)}`, {
      hint: 'list models with cairn model ls',
    });
  let version: ModelVersionRow | undefined;
  if (sel === 'latest')
    version = await db
      .selectFrom('model_versions')
      .selectAll()
      .where('model_id', '=', model.id)
      .orderBy('number', 'desc')
      .limit(1)
      .executeTakeFirst();
  else if (/^v\d+$/.test(sel))
    version = await db
      .selectFrom('model_versions')
      .selectAll()
      .where('model_id', '=', model.id)
      .where('number', '=', Number(sel.slice(1)))
      .executeTakeFirst();
  else if (sel.startsWith('sha256:')) {
    const rows = await db
      .selectFrom('model_versions')
      .selectAll()
      .where('model_id', '=', model.id)
      .where('digest', 'like', `${sel.slice(7).replace(/[^0-9a-f]/g, '')}%`)
      .execute();
    if (rows.length > 1) throw new CairnError('AMBIGUOUS_REF', `${ref} matches ${rows.length} versions`);
    version = rows[0];
  } else {
    const a = await db
      .selectFrom('model_aliases')
      .select('version_id')
      .where('model_id', '=', model.id)
      .where('alias', '=', sel)
      .executeTakeFirst();
    if (a)
      version = await db.selectFrom('model_versions').selectAll().where('id', '=', a.version_id).executeTakeFirst();
    else
      throw new CairnError('NOT_FOUND', `${name} has no alias ${JSON.stringify(sel)}`, {
        hint: `see cairn model show ${name}`,
      });
  }
  if (!version)
    throw new CairnError('NOT_FOUND', `${name} has no version ${sel}`, { hint: `see cairn model versions ${name}` });
  return { model, version, ref: `${name}@v${version.number}` };
}

/**
 * Registers an immutable model version: from a finished run (its output version, with
 * lineage to the run and, through it, to data and code) or from a folder. The files live in
 * the object store like any version (so fsck, gc, push and pull cover them); the version's
 * identity is the digest of their tree.
 */
export async function registerModel(
  deps: DatasetDeps,
  input: RegisterInput,
): Promise<{ ref: string; digest: string; format: string; card: ModelCard }> {
  const name = checkModelName(input.name);
  if (Boolean(input.fromRun) === Boolean(input.path))
    throw new CairnError('USAGE', 'give exactly one of --from-run <run> or --path <dir>');
  const db = deps.meta.db;
  const { filesVersionId, run } = await modelFiles(deps, input, name);
  const fv = await db
    .selectFrom('dataset_versions')
    .selectAll()
    .where('id', '=', filesVersionId)
    .executeTakeFirstOrThrow();
  const listing = await listFlat(fv.digest, treeLoader(deps));
  const format = input.format ?? detectFormat(listing.files.map((f) => f.path));
  const signature = input.signature ? readSignature(input.signature) : null;
  const metrics = run ? await runMetrics(deps, run.id) : {};
  const stored = run
    ? (JSON.parse(run.spec) as {
        inputs: Array<{ name: string; ref: string; digest: string; versionId: string }>;
        spec: { params: Record<string, unknown> };
      })
    : null;
  const intended = input.intendedUse ? readFileSync(input.intendedUse, 'utf8') : null;
  const existing = await db.selectFrom('models').selectAll().where('name', '=', name).executeTakeFirst();
  const modelId = existing?.id ?? uuidv7();
  const last = existing
    ? await db
        .selectFrom('model_versions')
        .select('number')
        .where('model_id', '=', modelId)
        .orderBy('number', 'desc')
        .limit(1)
        .executeTakeFirst()
    : undefined;
  const number = (last?.number ?? 0) + 1;
  const now = isoUtc(deps.clock.now());
  const card = buildCard({
    name,
    version: number,
    digest: fv.digest,
    format,
    files: listing.files.map((f) => ({ path: f.path, size: f.entry.size, sha256: f.entry.digest })),
    signature,
    run: run
      ? {
          id: run.id,
          name: run.name,
          codeCommit: run.code_commit,
          codeDirty: run.code_dirty,
          params: stored?.spec.params ?? {},
          startedAt: run.started_at,
          endedAt: run.ended_at,
        }
      : null,
    trainingData: (stored?.inputs ?? []).map((i) => ({ name: i.name, ref: i.ref, digest: `sha256:${i.digest}` })),
    metrics,
    intendedUse: intended,
    registeredBy: deps.actor().id,
    registeredAt: now,
  });
  const versionId = uuidv7();
  await recordRegistration(deps, {
    name,
    modelId,
    isNew: !existing,
    number,
    versionId,
    fv,
    format,
    signature,
    run,
    inputs: stored?.inputs ?? [],
    card,
    now,
    files: listing.files.length,
  });
  return { ref: `${name}@v${number}`, digest: `sha256:${fv.digest}`, format, card };
}

/** The files version a registration points at: a finished run's outputs, or a folder added as a version now. */
async function modelFiles(
  deps: DatasetDeps,
  input: RegisterInput,
  name: string,
): Promise<{ filesVersionId: string; run: RunRow | null }> {
  const db = deps.meta.db;
  let filesVersionId: string;
  let run: RunRow | null = null;
  if (input.fromRun) {
    run = await getRun(deps, input.fromRun);
    const source =
      run.status === 'reused' && run.reused_from
        ? await db.selectFrom('runs').selectAll().where('id', '=', run.reused_from).executeTakeFirst()
        : run;
    if (!source || source.status !== 'completed' || !source.output_version_id)
      throw new CairnError('INVALID_INPUT', `run ${run.id} has no outputs to register (status ${run.status})`, {
        hint: 'register a completed run that wrote to CAIRN_OUTPUT_DIR',
      });
    filesVersionId = source.output_version_id;
    run = source;
  } else {
    if (!existsSync(input.path!)) throw new CairnError('NOT_FOUND', `${input.path} does not exist`);
    const added = await addVersion(deps, {
      source: input.path!,
      name: `models/${name}`,
      message: input.message ?? `files of model ${name}`,
    });
    const v = await db
      .selectFrom('dataset_versions as v')
      .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
      .select('v.id')
      .where('d.name', '=', added.dataset)
      .where('v.number', '=', added.version)
      .executeTakeFirstOrThrow();
    filesVersionId = v.id;
  }
  return { filesVersionId, run };
}

/** The model.register event with the model (when new), the version row and lineage, in one transaction. */
async function recordRegistration(
  deps: DatasetDeps,
  r: {
    name: string;
    modelId: string;
    isNew: boolean;
    number: number;
    versionId: string;
    fv: { id: string; digest: string };
    format: string;
    signature: { inputs: unknown[]; outputs: unknown[] } | null;
    run: RunRow | null;
    inputs: Array<{ digest: string }>;
    card: ModelCard;
    now: string;
    files: number;
  },
): Promise<void> {
  const { name, modelId, number, versionId, fv, format, signature, run, card, now } = r;
  await deps.audit.audited(
    {
      action: 'model.register',
      target: { type: 'model', name, version: number, digest: `sha256:${fv.digest}` },
      inputs: [...r.inputs.map((i) => `sha256:${i.digest}`)],
      outputs: [`sha256:${fv.digest}`],
      // The card's digest binds the card (metrics, params, training data) to this event: a push
      // carries the card, and an importer takes only the one logged here (docs/REMOTES.md).
      params: {
        format,
        run: run?.id ?? null,
        codeCommit: run?.code_commit ?? null,
        files: r.files,
        card: `sha256:${createHash('sha256').update(canonicalJson(card)).digest('hex')}`,
      },
    },
    async (commit) => {
      await commit(async (tx) => {
        if (r.isNew)
          await tx.db
            .insertInto('models')
            .values({ id: modelId, name, created_at: now, created_by: deps.actor().id })
            .execute();
        await tx.db
          .insertInto('model_versions')
          .values({
            id: versionId,
            model_id: modelId,
            number,
            digest: fv.digest,
            files_version_id: fv.id,
            format,
            signature: signature ? canonicalJson(signature) : null,
            run_id: run?.id ?? null,
            card: canonicalJson(card),
            created_at: now,
            created_by: deps.actor().id,
          })
          .execute();
        await addEdges(tx, registrationEdges(fv.id, versionId, run?.id ?? null, now));
      });
    },
  );
}

/** Lineage of a new model version: its files, and the run that trained it. */
function registrationEdges(filesVersionId: string, versionId: string, runId: string | null, now: string) {
  const edge = (src_type: string, src_id: string, relation: string) => ({
    id: uuidv7(),
    src_type,
    src_id,
    dst_type: 'model_version',
    dst_id: versionId,
    relation,
    via_type: null,
    via_id: null,
    created_at: now,
  });
  return [edge('dataset_version', filesVersionId, 'files'), ...(runId ? [edge('run', runId, 'trained')] : [])];
}

async function runMetrics(deps: Pick<DatasetDeps, 'meta'>, runId: string): Promise<Record<string, number>> {
  const rows = await deps.meta.db
    .selectFrom('run_metrics')
    .select(['name', 'step', 'value', 'time'])
    .where('run_id', '=', runId)
    .orderBy('name')
    .orderBy('step')
    .orderBy('time')
    .execute();
  const out: Record<string, number> = {};
  for (const r of rows) out[r.name] = Number(r.value);
  return out;
}

function detectFormat(paths: readonly string[]): string {
  if (paths.some((p) => p.endsWith('.onnx'))) return 'onnx';
  if (paths.some((p) => p.endsWith('.safetensors'))) return 'safetensors';
  if (paths.some((p) => p.endsWith('.pt') || p.endsWith('.pth'))) return 'pytorch';
  if (paths.some((p) => p.endsWith('.npz'))) return 'numpy';
  return 'files';
}

function readSignature(path: string): { inputs: unknown[]; outputs: unknown[] } {
  let s: { inputs?: unknown; outputs?: unknown };
  try {
    s = JSON.parse(readFileSync(path, 'utf8')) as typeof s;
  } catch (err) {
    throw new CairnError('INVALID_INPUT', `cannot read the signature ${path}: ${(err as Error).message}`);
  }
  if (!Array.isArray(s.inputs) || !Array.isArray(s.outputs))
    throw new CairnError('INVALID_INPUT', `${path} must hold {"inputs": [...], "outputs": [...]}`);
  return { inputs: s.inputs, outputs: s.outputs };
}

export interface ModelCheck {
  ref: string;
  /** The digest the log recorded for the version (its row's when no event vouches for it). */
  digest: string;
  files: number;
  bytes: number;
  /** Bytes and row both check out. */
  ok: boolean;
  /** Files whose bytes do not match the tree the log recorded. */
  problems: Array<{ path: string; problem: string }>;
  /** How the version's row differs from its `model.register` event (docs/AUDIT.md, "State bound to the log"). */
  stateProblems: string[];
  /** The index of the `model.register` event the check was made against. */
  registeredAt: number | null;
}

/**
 * Re-hashes every file of a model version from the store — each chunk against its id and
 * each whole file against its recorded SHA-256 — starting from the tree digest its
 * `model.register` event logged, not the one its row holds now: a row pointed at another
 * tree with SQL is a state problem, and the bytes checked are the ones that were registered.
 */
export async function verifyModel(deps: DatasetDeps, ref: string): Promise<ModelCheck> {
  const r = await resolveModel(deps, ref);
  const logged = await loggedModelVersion(deps, r.model, r.version);
  const digest = logged.digest ?? r.version.digest;
  const problems: Array<{ path: string; problem: string }> = [];
  let bytes = 0;
  let files = 0;
  try {
    const listing = await listFlat(digest, treeLoader(deps));
    files = listing.files.length;
    for (const f of listing.files) {
      const h = createHash('sha256');
      try {
        const chunks = fileChunks(f.entry);
        const locs = await deps.index.locate(chunks);
        for (const id of chunks) {
          const loc = locs.get(id);
          if (!loc) throw new CairnError('MISSING_OBJECT', `chunk ${id} is missing`);
          const buf = await deps.reader.read(loc);
          h.update(buf);
          bytes += buf.length;
        }
        if (h.digest('hex') !== f.entry.digest)
          problems.push({ path: f.path, problem: 'its content does not match its recorded SHA-256' });
      } catch (err) {
        problems.push({ path: f.path, problem: (err as Error).message });
      }
    }
  } catch (err) {
    // The tree itself is unreadable (missing or damaged).
    problems.push({ path: '', problem: (err as Error).message });
  }
  const ok = problems.length === 0 && logged.problems.length === 0;
  const reason = logged.problems.length
    ? `STATE_MISMATCH: ${errorCatalogue.STATE_MISMATCH.summary}`
    : `CORRUPT_OBJECT: ${problems.length} file(s) do not verify`;
  await deps.audit.record(
    {
      action: 'model.verify',
      target: { type: 'model', name: r.model.name, version: r.version.number, digest: `sha256:${digest}` },
      params: {
        files,
        bytes,
        problems: problems.length,
        stateProblems: logged.problems.length,
        registeredAt: logged.index,
      },
    },
    ok ? 'ok' : 'failed',
    ok ? undefined : reason,
  );
  return {
    ref: r.ref,
    digest: `sha256:${digest}`,
    files,
    bytes,
    ok,
    problems,
    stateProblems: logged.problems,
    registeredAt: logged.index,
  };
}

/**
 * Refuses a version that must not go live or ship: its row differs from what the log
 * recorded for it (STATE_MISMATCH), or its bytes from the logged tree (CORRUPT_OBJECT).
 */
export function assertVerified(check: ModelCheck, what: string): void {
  if (check.stateProblems.length) {
    throw new CairnError(
      'STATE_MISMATCH',
      `${check.ref} is not what the audit log says was registered, so it cannot ${what}: ${check.stateProblems.join('; ')}`,
      {
        data: { stateProblems: check.stateProblems, registeredAt: check.registeredAt },
        hint: 'run `cairn audit verify` to see every row that differs from the log, and restore the metadata from a backup',
      },
    );
  }
  if (check.problems.length) {
    throw new CairnError(
      'CORRUPT_OBJECT',
      `${check.ref} does not verify, so it cannot ${what}: ${check.problems.map((p) => `${p.path}: ${p.problem}`).join('; ')}`,
      { data: { problems: check.problems } },
    );
  }
}

export async function listModels(deps: Pick<DatasetDeps, 'meta'>) {
  // One statement, whatever the number of models (was 1 + 2 per model): a row per model and
  // alias on it, with the model's version count and its latest version.
  const rows = await deps.meta.db
    .selectFrom('models as m')
    .leftJoin(
      (eb) =>
        eb
          .selectFrom('model_versions')
          .select(['model_id'])
          .select((e) => [e.fn.countAll().as('n'), e.fn.max('number').as('max_number')])
          .groupBy('model_id')
          .as('c'),
      (join) => join.onRef('c.model_id', '=', 'm.id'),
    )
    .leftJoin('model_versions as v', (join) =>
      join.onRef('v.model_id', '=', 'm.id').onRef('v.number', '=', 'c.max_number'),
    )
    .leftJoin('model_aliases as a', 'a.model_id', 'm.id')
    .leftJoin('model_versions as av', 'av.id', 'a.version_id')
    .select(['m.id', 'm.name', 'm.created_at', 'c.n', 'v.number', 'v.created_at as latest_created_at', 'a.alias'])
    .select('av.number as alias_number')
    .orderBy('m.name')
    .orderBy('a.alias')
    .execute();
  const out = new Map<
    string,
    { name: string; versions: number; latest: string | null; updated: string; aliases: Record<string, string> }
  >();
  for (const r of rows) {
    let m = out.get(r.id);
    if (!m) {
      const latest = r.number === null ? null : Number(r.number);
      out.set(
        r.id,
        (m = {
          name: r.name,
          versions: Number(r.n ?? 0),
          latest: latest === null ? null : `v${latest}`,
          updated: r.latest_created_at ?? r.created_at,
          aliases: {},
        }),
      );
    }
    if (r.alias !== null && r.alias_number !== null) m.aliases[r.alias] = `v${r.alias_number}`;
  }
  return [...out.values()];
}

/** A model's versions with the aliases on them (a row per version and alias), compiled once. */
const versionsWithAliases = compiledRead((db: ReadDb, name: string) =>
  db
    .selectFrom('models as m')
    .leftJoin('model_versions as v', 'v.model_id', 'm.id')
    .leftJoin('model_aliases as a', (join) => join.onRef('a.model_id', '=', 'm.id').onRef('a.version_id', '=', 'v.id'))
    .select(['v.id', 'v.number', 'v.digest', 'v.format', 'v.run_id', 'v.created_at', 'v.created_by', 'a.alias'])
    .where('m.name', '=', name)
    .orderBy('v.number', 'desc'),
);

export async function modelVersions(deps: Pick<DatasetDeps, 'meta'>, name: string) {
  // One statement (a team server answers `model versions` with one round trip to its database):
  // a row per version and alias on it; a model without versions is one row without a version.
  // Not the card or the signature: a listing of many versions would read and drop them all.
  const rows = await versionsWithAliases(deps.meta.db, name);
  if (rows.length === 0) throw new CairnError('NOT_FOUND', `no model named ${JSON.stringify(name)}`);
  const versions = new Map<string, { row: (typeof rows)[number]; aliases: string[] }>();
  for (const r of rows) {
    if (r.id === null) continue;
    let v = versions.get(r.id);
    if (!v) versions.set(r.id, (v = { row: r, aliases: [] }));
    if (r.alias !== null) v.aliases.push(r.alias);
  }
  return [...versions.values()].map(({ row: v, aliases }) => ({
    ref: `${name}@v${v.number}`,
    digest: `sha256:${v.digest}`,
    format: v.format!,
    run: v.run_id,
    created: v.created_at!,
    by: v.created_by!,
    aliases: aliases.sort(),
  }));
}
