/**
 * The published contract between Cairn and the jobs it runs (docs/COMPUTE.md, "Logging params
 * and metrics" and "What a job sees"): the environment variables a job gets and the rules a
 * metrics line follows. Both sides import it from here — compute/ (which sets the variables
 * and ingests the lines) and sdk/ (which a job uses to read and write them) — so neither
 * depends on the other. sdk/python/cairn_helper/ mirrors it by hand (its tests check that).
 */

/** The variables every job finds in its environment. */
export const RUN_ENV = {
  runId: 'CAIRN_RUN_ID',
  runName: 'CAIRN_RUN_NAME',
  project: 'CAIRN_PROJECT',
  outputDir: 'CAIRN_OUTPUT_DIR',
  checkpointDir: 'CAIRN_CHECKPOINT_DIR',
  metricsFile: 'CAIRN_METRICS_FILE',
  params: 'CAIRN_PARAMS',
  sdkJs: 'CAIRN_SDK_JS',
} as const;

/** Every declared input's variable starts with this. */
export const INPUT_ENV_PREFIX = 'CAIRN_INPUT_';

/** The environment variable that carries an input's path: CAIRN_INPUT_ + the name upper-cased, other characters as _. */
export function inputEnvName(name: string): string {
  return `${INPUT_ENV_PREFIX}${name.replace(/[^A-Za-z0-9]/gu, '_').toUpperCase()}`;
}

/** Marks a checkpoint folder as complete; written last, just before the folder's rename. */
export const COMPLETE_FILE = 'COMPLETE';

export const NAME_MAX = 200;

// \p{Cc} is exactly U+0000–U+001F and U+007F–U+009F (Python: unicodedata.category == 'Cc');
// \p{Cs} matches only lone surrogates in a /u regex, which UTF-8 cannot encode.
const NAME_OK = /^[^\p{Cc}\p{Cs}]{1,200}$/u;
const CONTROL = /\p{Cc}/u;
const LONE_SURROGATE = /\p{Cs}/u;

/** Why `name` breaks the naming rules, or null when it is fine. Lengths count code points. */
export function nameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return '"name" must be a string';
  if (NAME_OK.test(name)) return null;
  if (LONE_SURROGATE.test(name)) return '"name" must be well-formed Unicode';
  if (CONTROL.test(name)) return '"name" must not contain control characters';
  return `"name" must be 1 to ${NAME_MAX} characters`;
}

export const STEP_PROBLEM = '"step" must be an integer ≥ 0 or null';
export const VALUE_PROBLEM = '"value" must be a finite number';
export const TIME_PROBLEM = '"time" must be an RFC 3339 time such as 2026-11-27T03:00:00.000Z';

export function isValidStep(step: unknown): step is number | null | undefined {
  return step === undefined || step === null || (typeof step === 'number' && Number.isSafeInteger(step) && step >= 0);
}
