import { STATE_ACTIONS, type LoggedEvent } from './event-fields.js';
import { ExpectedState } from './expected-state.js';
import { readFlatTarget, type FlatTarget } from './flat-target.js';

const ALL_FIELDS = ['actor', 'target', 'outcome', 'reason', 'params', 'outputs'] as const;
/** The fields the log verifier must cut out of each entry for `StateEventReader`. */
export const STATE_FIELDS: ReadonlySet<string> = new Set(ALL_FIELDS);
/** Actors, outcomes and reasons repeat from entry to entry: each text is parsed once. */
const REPEATING: ReadonlySet<string> = new Set(['actor', 'outcome', 'reason']);
const CACHE_LIMIT = 10_000;

/**
 * Folds the entries of a log, as the verifier's single scan cut them apart (the JSON text of
 * a few top-level fields), into the expected state: only the fields an action needs are
 * parsed, and a version's creation, most of any log, goes in without an event object.
 */
export class StateEventReader {
  readonly expected = new ExpectedState();
  readonly #parsed = new Map<string, unknown>();
  readonly #flat: FlatTarget = { name: null, version: null, digestStart: -1, digestEnd: -1 };

  /** `action` and `raw`: the entry's action and field texts (null: not a JSON object; the log checks report it). */
  read(index: number, action: string | null, raw: Record<string, string> | null): void {
    if (action === null || raw === null || !STATE_ACTIONS.has(action)) return;
    try {
      if (action === 'dataset.version.create' || action === 'dataset.clean') this.#readVersion(index, action, raw);
      else this.expected.apply(index, this.#parseAll(action, raw));
    } catch {
      // A malformed value: the log checks report the entry.
    }
  }

  #parseAll(action: string, raw: Record<string, string>): LoggedEvent {
    const ev: Record<string, unknown> = { action };
    for (const k of ALL_FIELDS) {
      const text = raw[k];
      if (text !== undefined) ev[k] = REPEATING.has(k) ? this.#parseRepeating(text) : JSON.parse(text);
    }
    return ev as LoggedEvent;
  }

  /** A version's creation: its actor, target and outcome (its reason only has to be valid JSON). */
  #readVersion(index: number, action: string, raw: Record<string, string>): void {
    const actor = raw.actor === undefined ? undefined : (this.#parseRepeating(raw.actor) as LoggedEvent['actor']);
    const outcome = raw.outcome === undefined ? undefined : this.#parseRepeating(raw.outcome);
    if (raw.reason !== undefined) this.#parseRepeating(raw.reason);
    const t = raw.target;
    if (t !== undefined && readFlatTarget(t, this.#flat)) {
      const id = actor && typeof actor === 'object' && typeof actor.id === 'string' ? actor.id : null;
      this.expected.addVersionFlat(index, action, t, this.#flat, id, outcome === 'ok');
      return;
    }
    const target = t === undefined ? undefined : (JSON.parse(t) as unknown);
    const id = actor && typeof actor === 'object' && typeof actor.id === 'string' ? actor.id : null;
    this.expected.addVersion(index, action, target, id, outcome === 'ok');
  }

  #parseRepeating(text: string): unknown {
    let value = this.#parsed.get(text);
    if (value === undefined && !this.#parsed.has(text)) {
      value = JSON.parse(text) as unknown;
      if (this.#parsed.size < CACHE_LIMIT) this.#parsed.set(text, value);
    }
    return value;
  }
}
