import { CairnError } from '../core/errors.js';

/**
 * Roles, weakest first; each includes the ones before it. A contributor adds data, runs and
 * registers; an approver also approves and moves protected aliases; an admin manages people,
 * tokens and grants.
 */
export const ROLES = ['viewer', 'contributor', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

export function parseRole(s: string): Role {
  if (!isRole(s))
    throw new CairnError('USAGE', `unknown role ${JSON.stringify(s)}`, { hint: `use one of ${ROLES.join(', ')}` });
  return s;
}

export interface Grant {
  /** 'user:<name>' or 'group:<name>'. */
  subject: string;
  /** A project, or '*' for all. */
  project: string;
  role: Role;
}

export interface Principal {
  id: string;
  name: string;
  kind: 'user' | 'service';
  groups: readonly string[];
}

/**
 * The role a principal holds on a project: the strongest of its grants to itself or to any of
 * its groups, on that project or on '*'. No grant means no role: access is denied by default.
 */
export function roleOn(principal: Principal, grants: readonly Grant[], project: string): Role | null {
  const subjects = new Set([`user:${principal.name}`, ...principal.groups.map((g) => `group:${g}`)]);
  let best = -1;
  for (const g of grants) {
    if (!subjects.has(g.subject)) continue;
    if (g.project !== '*' && g.project !== project) continue;
    best = Math.max(best, ROLES.indexOf(g.role));
  }
  return best < 0 ? null : ROLES[best]!;
}

export type Decision = { allowed: true; role: Role } | { allowed: false; role: Role | null; reason: string };

/** Whether `principal` may do something that needs `need` on `project`: the pure core of every request's authorization. */
export function decide(principal: Principal, grants: readonly Grant[], need: Role, project: string): Decision {
  const role = roleOn(principal, grants, project);
  if (role !== null && ROLES.indexOf(role) >= ROLES.indexOf(need)) return { allowed: true, role };
  return {
    allowed: false,
    role,
    reason:
      role === null
        ? `${principal.name} has no role on project ${project}`
        : `${principal.name} is ${role} on project ${project}; this needs ${need}`,
  };
}

/** The projects a principal may read: every one (a grant on '*'), or those named in its grants. */
export type Readable = { all: true } | { all: false; projects: readonly string[] };

/**
 * What a listing may show a principal: the same grants `roleOn` reads, turned around. Any role
 * includes `viewer`, so every grant of the principal or its groups names a readable project.
 */
export function readableProjects(principal: Principal, grants: readonly Grant[]): Readable {
  const subjects = new Set([`user:${principal.name}`, ...principal.groups.map((g) => `group:${g}`)]);
  const projects = new Set<string>();
  for (const g of grants) {
    if (!subjects.has(g.subject)) continue;
    if (g.project === '*') return { all: true };
    projects.add(g.project);
  }
  return { all: false, projects: [...projects].sort() };
}
