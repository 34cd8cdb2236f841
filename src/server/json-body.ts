import type { FastifyInstance } from 'fastify';
import { CairnError } from '../core/errors.js';

/**
 * The deepest nesting a JSON body may have. Ours are a few levels deep (a model signature is the
 * deepest, under ten); what walks a body (the prototype-poisoning scan, the schema, the digest of
 * an Idempotency-Key, the audit event) recurses, so a body a few thousand levels deep would
 * overflow the stack: a 500 for a bad request, from anyone holding a token.
 */
export const MAX_JSON_DEPTH = 64;

/** How deeply `text` nests its arrays and objects, counted in one pass (strings skipped), stopping past `limit`. */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

/** JSON bodies parsed as Fastify does (prototype poisoning refused), after a nesting check. */
export function limitJsonDepth(app: FastifyInstance, maxDepth = MAX_JSON_DEPTH): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (jsonDepth(body as string, maxDepth) > maxDepth)
      return done(
        Object.assign(new CairnError('USAGE', `the JSON body nests deeper than ${maxDepth} levels`), {
          bodyRefusal: `nested deeper than ${maxDepth} levels`,
        }),
        undefined,
      );
    return parse(req, body as string, done);
  });
}

/**
 * Why Fastify (or the nesting check) refused a request before any handler ran, in words the
 * server chose, or null when `err` is not such a refusal. Never the body's text: a JSON syntax
 * error quotes the body, which may hold a pasted secret, and refusals are kept in the audit log.
 */
export function bodyRefusal(err: unknown): string | null {
  const e = err as {
    bodyRefusal?: string;
    validation?: Array<{ keyword?: string; schemaPath?: string }>;
    validationContext?: string;
    code?: string;
    statusCode?: number;
    message?: string;
  };
  if (typeof e?.bodyRefusal === 'string') return e.bodyRefusal;
  if (Array.isArray(e?.validation)) {
    const v = e.validation[0];
    // keyword and schemaPath come from our schema, not from the request.
    return `the ${e.validationContext ?? 'request'} does not match the contract (${v?.keyword ?? '?'} at ${v?.schemaPath ?? '?'})`;
  }
  if (e?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return 'the body is larger than the limit';
  if (e?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return 'a content type the server does not take';
  if (e?.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return 'an empty JSON body';
  if (e?.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') return 'a Content-Length that does not match the body';
  if (typeof e?.code === 'string' && e.code.startsWith('FST_ERR_CTP_')) return `refused by the body parser (${e.code})`;
  if (err instanceof SyntaxError && e.statusCode === 400) return 'malformed JSON';
  if (e?.statusCode === 400 && /forbidden prototype property/.test(e.message ?? '')) return 'prototype poisoning';
  return null;
}
