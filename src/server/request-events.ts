import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** How many audit events were drafted in this request's scope (RequestScope.onEvent). */
    events?: number;
  }
}

/**
 * The scope's `onEvent` for a request: counts the events drafted for it, so that a request that
 * ends without one of its own (a handler that failed before any service recorded it, a replayed
 * answer) is recorded by the shell — every request is an audit event.
 */
export function countEvents(req: FastifyRequest): () => void {
  return () => {
    req.events = (req.events ?? 0) + 1;
  };
}
