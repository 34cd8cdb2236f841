import { describe, expect, it } from 'vitest';
import { decide, readableProjects, ROLES, roleOn, type Grant, type Principal } from './roles.js';

const alice: Principal = { id: '1', name: 'alice', kind: 'user', groups: ['ml'] };

describe('role decisions', () => {
  it('denies by default', () => {
    const d = decide(alice, [], 'viewer', 'default');
    expect(d.allowed).toBe(false);
  });

  it('takes the strongest grant to the user or any of its groups, on the project or on *', () => {
    const grants: Grant[] = [
      { subject: 'group:ml', project: '*', role: 'viewer' },
      { subject: 'user:alice', project: 'vision', role: 'approver' },
      { subject: 'user:bob', project: '*', role: 'admin' },
    ];
    expect(roleOn(alice, grants, 'vision')).toBe('approver');
    expect(roleOn(alice, grants, 'nlp')).toBe('viewer');
    expect(decide(alice, grants, 'contributor', 'nlp').allowed).toBe(false);
    expect(decide(alice, grants, 'approver', 'vision').allowed).toBe(true);
  });

  it('never grants more than some grant gives (random grant sets)', () => {
    const subjects = ['user:alice', 'user:bob', 'group:ml', 'group:ops'];
    const projects = ['*', 'vision', 'nlp'];
    for (let trial = 0; trial < 500; trial++) {
      const grants: Grant[] = [];
      const n = Math.floor(Math.random() * 5);
      for (let i = 0; i < n; i++)
        grants.push({
          subject: subjects[Math.floor(Math.random() * subjects.length)]!,
          project: projects[Math.floor(Math.random() * projects.length)]!,
          role: ROLES[Math.floor(Math.random() * ROLES.length)]!,
        });
      for (const need of ROLES)
        for (const project of ['vision', 'nlp', 'other']) {
          const d = decide(alice, grants, need, project);
          const witness = grants.some(
            (g) =>
              (g.subject === 'user:alice' || g.subject === 'group:ml') &&
              (g.project === '*' || g.project === project) &&
              ROLES.indexOf(g.role) >= ROLES.indexOf(need),
          );
          expect(d.allowed).toBe(witness);
        }
    }
  });
});

describe('readable projects', () => {
  const projects = ['default', 'alpha', 'secret', 'ml'];
  const subjects = ['user:alice', 'user:bob', 'group:ml', 'group:ops'];

  // A seeded generator (no property-testing package here): 2,000 random sets of grants.
  it('names exactly the projects on which the principal holds some role, for any grants', () => {
    let seed = 42;
    const pick = <T>(xs: readonly T[]): T => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return xs[seed % xs.length]!;
    };
    for (let n = 0; n < 2_000; n++) {
      const grants: Grant[] = Array.from({ length: pick([0, 1, 2, 3, 5, 8, 12]) }, () => ({
        subject: pick(subjects),
        project: pick(['*', ...projects]),
        role: pick(ROLES),
      }));
      const r = readableProjects(alice, grants);
      for (const p of [...projects, 'never-granted'])
        expect(r.all || r.projects.includes(p), `${p} with ${JSON.stringify(grants)}`).toBe(
          roleOn(alice, grants, p) !== null,
        );
    }
  });

  it('grants to others (or to groups the principal is not in) give nothing', () => {
    const r = readableProjects(alice, [
      { subject: 'user:bob', project: '*', role: 'admin' },
      { subject: 'group:ops', project: 'secret', role: 'viewer' },
    ]);
    expect(r).toEqual({ all: false, projects: [] });
  });
});
