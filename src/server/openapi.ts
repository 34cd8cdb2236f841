import { API_PREFIX, operations, type Operation, type OperationId, type Schema } from '../app/remote/contract.js';
import { answers } from './answers.js';
import { CLIENT_VERSION } from '../app/version.js';

/** The OpenAPI 3.1 document of /api/v1, generated from the same table the routes are mounted from. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [id, op] of Object.entries(operations) as Array<[string, Operation]>) {
    const path = API_PREFIX + op.path.replace(/:([A-Za-z]+)/g, '{$1}');
    (paths[path] ??= {})[op.method.toLowerCase()] = {
      operationId: id,
      summary: op.summary,
      description: `Needs the ${op.role} role.`,
      security: [{ bearer: [] }],
      parameters: [
        ...Object.entries(op.params ?? {}).map(([name, schema]) => ({ name, in: 'path', required: true, schema })),
        ...Object.entries(op.query ?? {}).map(([name, schema]) => ({
          name,
          in: 'query',
          required: (op.required ?? []).includes(name) && !op.body,
          schema,
        })),
      ],
      ...(op.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: bodySchema(op) } } } }
        : {}),
      responses: {
        '200': { description: 'OK', content: { 'application/json': { schema: answers[id as OperationId] ?? {} } } },
        default: {
          description: 'An error',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Cairn team server', version: CLIENT_VERSION, description: 'See docs/SERVER.md.' },
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API token (cairn_tok…) or an OpenID Connect access token.',
        },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { type: 'string' },
                message: { type: 'string' },
                hint: { type: 'string' },
                data: { type: 'object' },
              },
            },
          },
        },
      },
    },
  };
}

export function bodySchema(op: Operation): Schema {
  return {
    type: 'object',
    properties: op.body ?? {},
    required: op.body ? (op.required ?? []) : [],
    additionalProperties: false,
  };
}

export function querySchema(op: Operation): Schema {
  return {
    type: 'object',
    properties: op.query ?? {},
    required: op.body ? [] : (op.required ?? []).filter((k) => k in (op.query ?? {})),
    additionalProperties: false,
  };
}
