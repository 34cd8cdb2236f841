// The UI's only way to data: the same /api/v1 operations the CLI calls, named by the contract
// table (src/app/remote/contract.ts), so the UI and the CLI cannot ask for different things.
import { API_PREFIX, operations, type CallInput, type OperationId } from '../../src/app/remote/contract.js';

const TOKEN_KEY = 'cairn.token';

/** A failed call as the server answered it: its stable code and message. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function urlOf(id: OperationId, input: CallInput = {}): string {
  const op = operations[id];
  const path = op.path.replace(/:(\w+)/g, (_, k: string) => encodeURIComponent(String(input.params?.[k] ?? '')));
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(input.query ?? {})) if (v !== undefined && v !== '') q.set(k, String(v));
  const qs = q.toString();
  return API_PREFIX + path + (qs ? `?${qs}` : '');
}

/**
 * Calls one operation. A pasted token goes as a bearer token; otherwise the session cookie (OpenID
 * sign-in) or nothing (`cairn ui`). Writes carry the CSRF header the server requires of them.
 */
export async function call<T>(id: OperationId, input: CallInput = {}): Promise<T> {
  const op = operations[id];
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = savedToken();
  if (token) headers.authorization = `Bearer ${token}`;
  const hasBody = 'body' in op;
  if (op.method !== 'GET') {
    headers['x-cairn-csrf'] = '1';
    headers['idempotency-key'] = crypto.randomUUID();
  }
  if (hasBody) headers['content-type'] = 'application/json';
  const res = await fetch(urlOf(id, input), {
    method: op.method,
    headers,
    credentials: 'same-origin',
    ...(hasBody ? { body: JSON.stringify(input.body ?? {}) } : {}),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError('INTERNAL', `the server answered ${res.status} with something that is not JSON`, res.status);
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string; hint?: string } } | null)?.error;
    throw new ApiError(e?.code ?? 'INTERNAL', e?.message ?? `HTTP ${res.status}`, res.status, e?.hint);
  }
  return json as T;
}

/** Who the UI acts as, and so which buttons it offers (the server refuses the rest anyway). */
export interface Me {
  user: string;
  role: 'viewer' | 'contributor' | 'approver' | 'admin' | null;
  local: boolean;
  protectedAliases: string[];
  origin: string;
  verifierKey: string;
}

const RANK = { viewer: 1, contributor: 2, approver: 3, admin: 4 } as const;

export function can(me: Me | null, need: keyof typeof RANK): boolean {
  return !!me?.role && RANK[me.role] >= RANK[need];
}
