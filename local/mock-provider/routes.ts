/** The mock's routes: what each OpenAI endpoint it serves answers. */
import { admit } from './admission.js';
import { answerFor, estimateTokens, type RequestEndpoint } from './answers.js';
import type { BatchStore } from './batches.js';
import type { SimClock } from './clock.js';
import type { FileStore } from './files.js';
import { badRequest } from './http-error.js';
import type { LatencyModel } from './latency.js';
import { contentKey, type IdMaker, type Outcomes } from './outcomes.js';
import type { RateLimiter } from './request-limits.js';
import type { ResponseStore } from './responses.js';
import { chatCompletionObject } from './shapes.js';
import type { StatsCounter } from './stats.js';
import type { RequestContext } from './transport.js';

export interface Reply {
  status?: number;
  json?: unknown;
  text?: string;
  headers?: Record<string, string>;
  /** Simulated ms to wait before answering (synchronous model calls). */
  delayMs?: number;
}

export interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  /** The route's name in stats().calls. */
  name: string;
  handle(context: RequestContext, params: string[]): Promise<Reply> | Reply;
}

/** The mock's state, which the routes read and change. */
export interface MockState {
  clock: SimClock;
  ids: IdMaker;
  outcomes: Outcomes;
  limiter: RateLimiter;
  latency: LatencyModel;
  responses: ResponseStore;
  files: FileStore;
  batches: BatchStore;
  stats: StatsCounter;
}

export function mockRoutes({
  clock,
  ids,
  outcomes,
  limiter,
  latency,
  responses,
  files,
  batches,
  stats,
}: MockState): Route[] {
  const createModelCall = (endpoint: RequestEndpoint, body: Record<string, unknown>) => {
    const key = contentKey(body);
    const headers = admit(limiter, outcomes, {
      tokens: estimateTokens(body, endpoint),
      key,
      canFailPermanently: true,
    });
    return { key, headers, answer: answerFor(body, endpoint, (count) => outcomes.pick(key, count)) };
  };
  const itemKey = (context: RequestContext, contentHash: string) =>
    context.header('idempotency-key') ?? `content:${contentHash}`;

  return [
    {
      method: 'POST',
      pattern: /^\/v1\/responses$/,
      name: 'POST /v1/responses',
      async handle(context) {
        const body = await context.json();
        const model = requireModel(body);
        if (body.stream === true)
          throw badRequest('The mock provider does not stream: set stream to false.', 'unsupported_value', 'stream');
        const background = body.background === true;
        const store = body.store !== false;
        if (background && !store) {
          throw badRequest('Background mode requires store=true.', 'invalid_value', 'store');
        }
        const { key, headers, answer } = createModelCall('/v1/responses', body);
        const fails = background && outcomes.failsInBackground(key);
        const item = itemKey(context, key);
        const created = responses.create(model, answer, { background, store, fails, item });
        stats.responsesCreated += 1;
        stats.sent(item);
        return { json: created.body, headers, delayMs: background ? 0 : created.latencyMs };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/responses\/([^/]+)$/,
      name: 'GET /v1/responses/{id}',
      handle: (_context, [id = '']) => ({ json: responses.retrieve(id) }),
    },
    {
      method: 'POST',
      pattern: /^\/v1\/responses\/([^/]+)\/cancel$/,
      name: 'POST /v1/responses/{id}/cancel',
      handle: (_context, [id = '']) => ({ json: responses.cancel(id) }),
    },
    {
      method: 'POST',
      pattern: /^\/v1\/chat\/completions$/,
      name: 'POST /v1/chat/completions',
      async handle(context) {
        const body = await context.json();
        const model = requireModel(body);
        if (!Array.isArray(body.messages) || body.messages.length === 0) {
          throw badRequest("Missing required parameter: 'messages'.", 'missing_required_parameter', 'messages');
        }
        if (body.stream === true)
          throw badRequest('The mock provider does not stream: set stream to false.', 'unsupported_value', 'stream');
        const { key, headers, answer } = createModelCall('/v1/chat/completions', body);
        stats.sent(itemKey(context, key));
        const delayMs = latency.next();
        const completion = chatCompletionObject({
          id: ids.next('chatcmpl-'),
          createdAt: clock.now(),
          model,
          text: answer.text,
          promptTokens: answer.inputTokens,
          completionTokens: answer.outputTokens,
        });
        stats.chatCompletionsCreated += 1;
        return { json: completion, headers, delayMs };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/files$/,
      name: 'POST /v1/files',
      async handle(context) {
        const file = await files.upload(await context.form());
        stats.filesUploaded += 1;
        return { json: file };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/files\/([^/]+)$/,
      name: 'GET /v1/files/{id}',
      handle: (_context, [id = '']) => ({ json: files.retrieve(id) }),
    },
    {
      method: 'GET',
      pattern: /^\/v1\/files\/([^/]+)\/content$/,
      name: 'GET /v1/files/{id}/content',
      handle: (_context, [id = '']) => ({ text: files.get(id).content }),
    },
    {
      method: 'POST',
      pattern: /^\/v1\/batches$/,
      name: 'POST /v1/batches',
      async handle(context) {
        const body = await context.json();
        const headers = admit(limiter, outcomes, { tokens: 0, key: contentKey(body), canFailPermanently: false });
        const batch = batches.create(body, (customId) => stats.sent(customId));
        stats.batchesCreated += 1;
        return { json: batch, headers };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/batches$/,
      name: 'GET /v1/batches',
      handle: (context) => ({
        json: batches.list(context.url.searchParams.get('limit'), context.url.searchParams.get('after')),
      }),
    },
    {
      method: 'GET',
      pattern: /^\/v1\/batches\/([^/]+)$/,
      name: 'GET /v1/batches/{id}',
      handle: (_context, [id = '']) => ({ json: batches.retrieve(id) }),
    },
    {
      method: 'POST',
      pattern: /^\/v1\/batches\/([^/]+)\/cancel$/,
      name: 'POST /v1/batches/{id}/cancel',
      handle: (_context, [id = '']) => ({ json: batches.cancel(id) }),
    },
  ];
}

export function findRoute(
  routes: Route[],
  method: string,
  pathname: string,
): { route: Route; params: string[] } | undefined {
  for (const route of routes) {
    if (route.method !== method) continue;
    const found = route.pattern.exec(pathname);
    if (!found) continue;
    try {
      return { route, params: found.slice(1).map((part) => decodeURIComponent(part)) };
    } catch {
      return undefined; // a malformed %-escape: no such object
    }
  }
  return undefined;
}

function requireModel(body: Record<string, unknown>): string {
  if (typeof body.model !== 'string' || body.model === '') {
    throw badRequest("Missing required parameter: 'model'.", 'missing_required_parameter', 'model');
  }
  return body.model;
}
