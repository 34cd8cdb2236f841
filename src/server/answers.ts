import type { OperationId } from '../app/remote/contract.js';
import type { RunImport, RunSummary } from '../compute/index.js';
import type { DatasetSummary } from '../datasets/index.js';
import type { ModelVersionSummary } from '../models/index.js';

/** The JSON Schema of an answer, as the OpenAPI document shows it. */
export type AnswerSchema = PlainAnswer | NullableAnswer;

/** A value never null. */
type PlainAnswer =
  | { type: 'string' | 'integer' | 'boolean' }
  | { type: 'array'; items: AnswerSchema }
  | { type: 'object'; additionalProperties: AnswerSchema }
  | ObjectAnswer;

/** A value that may be null (a schema without `null` would write a null string as "", a lie). */
type NullableAnswer =
  | { type: ['string', 'null'] | ['integer', 'null'] }
  | (Omit<ObjectAnswer, 'type'> & { type: ['object', 'null'] })
  /** Any JSON value (a run's recorded reason). */
  | { description: string };

interface ObjectAnswer {
  type: 'object';
  properties: Record<string, AnswerSchema>;
  required: string[];
  additionalProperties: false;
}

const text: PlainAnswer = { type: 'string' };
const maybeText: NullableAnswer = { type: ['string', 'null'] };
const count: PlainAnswer = { type: 'integer' };
const maybeCount: NullableAnswer = { type: ['integer', 'null'] };

/**
 * An object answer naming every field of T, and only those: a field added to the view type and
 * not here fails the typecheck (never dropped from answers unnoticed), and a field here the view
 * does not have is refused by the same check (nothing extra can leak out through a schema); a
 * field that may be null must have a schema that allows null.
 */
function fieldsOf<T>(properties: { [K in keyof T]-?: null extends T[K] ? NullableAnswer : PlainAnswer }): ObjectAnswer {
  return { type: 'object', properties, required: Object.keys(properties), additionalProperties: false };
}

const imported = fieldsOf<RunImport>({
  origin: text,
  workspace: maybeText,
  index: count,
  author: text,
  by: text,
  record: { type: 'boolean' },
  at: text,
});

const runSummary = fieldsOf<RunSummary>({
  id: text,
  name: text,
  humanName: maybeText,
  tags: { type: 'object', additionalProperties: text },
  note: maybeText,
  project: text,
  status: text,
  backend: text,
  job: maybeText,
  gpus: count,
  createdAt: text,
  startedAt: maybeText,
  endedAt: maybeText,
  exitCode: maybeCount,
  reason: { description: 'Why the run ended as it did, as recorded (any JSON value, or null).' },
  runKey: text,
  reusedFrom: maybeText,
  imported: { ...imported, type: ['object', 'null'] },
});

const datasetSummary = fieldsOf<DatasetSummary>({
  name: text,
  created_at: text,
  versions: count,
  latest_number: maybeCount,
  latest_digest: maybeText,
  latest_created_at: maybeText,
  latest_total_bytes: maybeCount,
  latest_file_count: maybeCount,
});

const modelVersion = fieldsOf<ModelVersionSummary>({
  ref: text,
  digest: text,
  format: text,
  run: maybeText,
  created: text,
  by: text,
  aliases: { type: 'array', items: text },
});

/**
 * The answers of the most asked reads, described exactly in the OpenAPI document (they were only
 * `{type: object}`, and are arrays). test/server/answers.test.ts holds every answer to its
 * schema, on SQLite and PostgreSQL. They are not Fastify's response serializers (routeSchema in
 * http.ts says why).
 */
export const answers: Partial<Record<OperationId, AnswerSchema>> = {
  'datasets.list': { type: 'array', items: datasetSummary },
  'runs.list': { type: 'array', items: runSummary },
  'models.versions': { type: 'array', items: modelVersion },
};
