import type { Dossier, Gap, Section, Statement } from './model.js';

export interface Cited {
  index: number;
  action: string;
  time: string;
}

export const SECTIONS = [
  { id: 'general', title: '1. General description', basis: 'Annex IV point 1' },
  { id: 'development', title: '2. Development: methods and design', basis: 'Annex IV point 2(a)–(c)' },
  { id: 'data', title: '3. Training, validation and test data', basis: 'Annex IV point 2(d)' },
  {
    id: 'testing',
    title: '4. Validation and testing: metrics, slices, signed verdicts',
    basis: 'Annex IV point 2(g), 4',
  },
  { id: 'limitations', title: '5. Limitations, foreseeable risks and human oversight', basis: 'Annex IV point 3' },
  { id: 'changes', title: '6. Change history: aliases, releases, deployments', basis: 'Annex IV point 6' },
  { id: 'logging', title: '7. Record-keeping (Article 12)', basis: 'Article 12, Annex IV point 9' },
] as const;

export type SectionId = (typeof SECTIONS)[number]['id'];

/**
 * Collects statements and gaps. A statement needs at least one log entry behind it; a fact found
 * in the metadata that no entry vouches for becomes a gap too — the dossier never asserts what
 * the log cannot prove.
 */
export class DossierBuilder {
  readonly #statements = new Map<SectionId, Statement[]>(SECTIONS.map((s) => [s.id, []]));
  readonly gaps: Gap[] = [];
  readonly cited = new Map<number, Cited>();

  fact(
    section: SectionId,
    field: string,
    text: string,
    value: unknown,
    events: ReadonlyArray<Cited | undefined>,
  ): void {
    const ev = events.filter((e): e is Cited => e !== undefined);
    if (ev.length === 0) {
      this.gap(section, field, `recorded in the metadata, but no audit log entry vouches for it (${text})`);
      return;
    }
    for (const e of ev) this.cited.set(e.index, e);
    const list = this.#statements.get(section)!;
    list.push({
      id: `${section}-${list.length + 1}`,
      field,
      text,
      ...(value !== undefined ? { value } : {}),
      evidence: ev.map((e) => ({ index: e.index, action: e.action, time: e.time, proof: proofPath(e) })),
    });
  }

  gap(section: SectionId, field: string, why: string): void {
    this.gaps.push({ section, field, why });
  }

  build(head: Omit<Dossier, 'sections' | 'gaps'>): Dossier {
    return {
      ...head,
      sections: SECTIONS.map((s) => ({ ...s, statements: this.#statements.get(s.id)! })) as Section[],
      gaps: this.gaps,
    };
  }
}

export function proofPath(e: { index: number; action: string }): string {
  return `proofs/${String(e.index).padStart(8, '0')}-${e.action}.json`;
}
