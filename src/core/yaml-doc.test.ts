import { describe, expect, it } from 'vitest';
import { parseRecipe } from '../dataprep/spec-files/recipe.js';
import { parseSuite } from '../dataprep/spec-files/suite.js';
import { locate, SpecReader } from './yaml-doc.js';

describe('YAML specs: errors at their real place', () => {
  it('a syntax error names its line and column; an unclosed quote or bracket names the line it opens on', () => {
    const errs = (text: string) => new SpecReader(text, 'f.yaml').errors;
    expect(errs('suite: s\nchecks:\n  - row_count: { min: 1 }\n  - not_null: [a\n  - unique: [id]\n')).toEqual([
      'f.yaml:4: a [ opened here (column 15) is never closed (Flow sequence in block collection must be sufficiently indented and end with a ])',
    ]);
    expect(errs('a: 1\nb: "x\nc: 2\n')).toEqual([
      'f.yaml:2: a quoted string (") opened here (column 4) is never closed (Missing closing "quote)',
    ]);
    expect(errs("a: 1\nb: 'x\n")).toEqual([
      "f.yaml:2: a quoted string (') opened here (column 4) is never closed (Missing closing 'quote)",
    ]);
    // A closed bracket inside an open one is not blamed.
    expect(errs('data: { label: y, features: [f1]\nchecks: []\n')[0]).toMatch(
      /^f\.yaml:1: a \{ opened here \(column 7\) is never closed/,
    );
    expect(errs('x:\n\t- 1\n')).toEqual(['f.yaml:2: Tabs are not allowed as indentation (column 1)']);
    expect(errs('a: 1\na: 2\n')).toEqual(['f.yaml:2: Map keys must be unique (column 1)']);
    for (const e of [...errs('a: [\n'), ...errs('"\n'), ...errs('{{{')]) expect(e).toMatch(/^f\.yaml:\d+: /);
  });

  it('a text value maps back to the file: one-line plain and quoted scalars and literal blocks exactly, others to their start', () => {
    const s = parseRecipe(
      'steps:\n  - filter: a > 1 AND nope\n  - filter: "b > 2 AND nope"\n  - filter: |\n      c > 3\n      AND nope\n  - filter: >\n      d > 4\n      AND nope\n',
      'r.yaml',
    );
    const at = s.steps.map((c) => (c.kind === 'filter' ? locate(c.at!, c.predicate, c.predicate.indexOf('nope')) : ''));
    // The folded block (>) joins its lines: only its start can be named.
    expect(at).toEqual(['r.yaml:2:23', 'r.yaml:3:24', 'r.yaml:6:11', 'r.yaml:7:13']);
    expect(s.file).toBe('r.yaml');
    const suite = parseSuite('checks:\n  - sql: { predicate: id > nope, name: x }\n', 's.yaml');
    const c = suite.checks[0]!;
    expect(c.kind === 'sql' ? locate(c.at!, c.predicate, 5) : '').toBe('s.yaml:2:28');
    const r = parseRecipe("steps:\n  - filter: { predicate: 'x = ''q'' OR nope' }\n", 'r.yaml');
    const f = r.steps[0]!;
    // An escaped quote: the text differs from the value, so the start of the value is named.
    expect(f.kind === 'filter' ? locate(f.at!, f.predicate, f.predicate.indexOf('nope')) : '').toBe('r.yaml:2:26');
  });
});
