/** The technical documentation of one model version (EU AI Act Annex IV), as data. */
export const DOSSIER_FORMAT = 'cairn.dossier/v1';

/** An audit log entry that backs a statement, and the inclusion proof written beside the dossier. */
export interface Evidence {
  index: number;
  action: string;
  time: string;
  /** Path of the `cairn.audit-proof/v1` file, relative to the dossier folder. */
  proof: string;
}

export interface Statement {
  /** Stable within a dossier: `s<section>-<n>`, used as the HTML anchor. */
  id: string;
  field: string;
  text: string;
  /** The recorded value the text states (numbers, ids, digests), for machines. */
  value?: unknown;
  evidence: Evidence[];
}

export interface Section {
  id: string;
  title: string;
  /** The Annex IV point or Article the section answers. */
  basis: string;
  statements: Statement[];
}

/** A field Annex IV asks for that no recorded fact answers; never filled in by guessing. */
export interface Gap {
  section: string;
  field: string;
  why: string;
}

export interface Dossier {
  format: typeof DOSSIER_FORMAT;
  model: { name: string; version: number; digest: string };
  /** The signed checkpoint every proof is checked against. */
  checkpoint: { size: number; root: string; file: string };
  verifierKey: string;
  sections: Section[];
  gaps: Gap[];
}

/** A card section that is empty or still the template's placeholder says nothing (pure). */
export function cardSection(markdown: string, title: string): string | null {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim().toLowerCase() === `## ${title.toLowerCase()}`);
  if (start < 0) return null;
  const body: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (/^##\s/.test(l)) break;
    body.push(l);
  }
  const text = body.join('\n').trim();
  // The template's placeholders are one parenthesized sentence each: not a fact anyone recorded.
  if (!text || /^\([^()]*\)$/s.test(text)) return null;
  return text;
}
