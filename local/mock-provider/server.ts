import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { admit } from './admission.js';
import { isRecord } from '../../shared/is-record.js';
import { answerFor, estimateTokens, type RequestEndpoint } from './answers.js';
import { BatchStore } from './batches.js';
import { SimClock } from './clock.js';
import { FileStore } from './files.js';
import { HttpError, badRequest, notFound } from './http-error.js';
import { LatencyModel } from './latency.js';
import { IdMaker, Outcomes, contentKey } from './outcomes.js';
import { resolveOptions, type MockProviderOptions } from './options.js';
import { RateLimiter } from './request-limits.js';
import { ResponseStore } from './responses.js';
import { apiError, chatCompletionObject } from './shapes.js';
import { StatsCounter, type MockProviderStats } from './stats.js';

export type { MockProviderOptions } from './options.js';
export type { MockProviderStats } from './stats.js';

/** A running mock provider. */
export interface MockProvider {
  /** Base URL for the OpenAI SDK, ending in /v1 (http://127.0.0.1:<port>/v1). */
  url: string;
  /**
   * A fetch for an OpenAI client in this process (`new OpenAI({ baseURL: url, fetch })`): the
   * same routes, answers, latencies and limits as over HTTP, without a socket, HTTP parsing or
   * undici's connection pool, which were about a seventh of a local run's main-thread CPU.
   */
  fetch: typeof globalThis.fetch;
  stats(): MockProviderStats;
  /** Stops listening, drops open connections and abandons answers still waiting on latency. */
  close(): Promise<void>;
}

export type StartMockProviderOptions = Partial<MockProviderOptions> & { port?: number };

/** Largest request body accepted (a 200 MB batch file plus multipart framing). */
const MAX_BODY_BYTES = 210 * 1024 * 1024;

interface Reply {
  status?: number;
  json?: unknown;
  text?: string;
  headers?: Record<string, string>;
  /** Simulated ms to wait before answering (synchronous model calls). */
  delayMs?: number;
}

interface RequestContext {
  url: URL;
  json(): Promise<Record<string, unknown>>;
  form(): Promise<FormData>;
}

/** One request, from either transport (the HTTP server or the in-process fetch). */
interface MockRequest {
  method: string;
  url: URL;
  authorization: string | null;
  headers(): Headers;
  body(): Promise<Buffer>;
}

/** One answer, for either transport. */
interface MockAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  /** The route's name in stats().calls. */
  name: string;
  handle(context: RequestContext, params: string[]): Promise<Reply> | Reply;
}

/**
 * Starts an OpenAI-compatible mock on 127.0.0.1 that serves what shared/provider/openai-provider.ts
 * calls through the official SDK: background and synchronous Responses, Chat Completions, Files
 * and Batches, with seeded latency, errors and OpenAI-style rate limits. State lives in memory.
 *
 * Rate limited (RPM and TPM, 429 + retry-after): POST /v1/responses, POST /v1/chat/completions,
 * POST /v1/batches (one request, no tokens: OpenAI counts batch tokens against a separate queue
 * limit). Not limited: every GET (polling, listing, file content), cancels and file uploads;
 * their answers still carry the current x-ratelimit-* headers.
 */
export async function startMockProvider(options: StartMockProviderOptions = {}): Promise<MockProvider> {
  const { port = 0, ...knobs } = options;
  const settings = resolveOptions(knobs);
  const clock = new SimClock(settings.timeScale);
  const ids = new IdMaker(settings.seed);
  const outcomes = new Outcomes(settings.seed, settings.permanentErrorRate, settings.transientErrorRate);
  const limiter = new RateLimiter(clock, settings.rateLimitRpm, settings.rateLimitTpm);
  const latency = new LatencyModel(settings.seed, settings.latencyMs, settings.latencySpread);
  const responses = new ResponseStore(clock, ids, latency);
  const files = new FileStore(clock, ids);
  const batches = new BatchStore(clock, ids, files, outcomes, settings);
  const stats = new StatsCounter();
  const closing = new AbortController();

  const createModelCall = (endpoint: RequestEndpoint, body: Record<string, unknown>) => {
    const key = contentKey(body);
    const headers = admit(limiter, outcomes, {
      tokens: estimateTokens(body, endpoint),
      key,
      canFailPermanently: true,
    });
    return { headers, answer: answerFor(body, endpoint, (count) => outcomes.pick(key, count)) };
  };

  const routes: Route[] = [
    {
      method: 'POST',
      pattern: /^\/v1\/responses$/,
      name: 'POST /v1/responses',
      async handle(context) {
        const body = await context.json();
        const model = requireModel(body);
        if (body.stream === true) throw badRequest('The mock provider does not stream: set stream to false.', 'unsupported_value', 'stream');
        const background = body.background === true;
        const store = body.store !== false;
        if (background && !store) {
          throw badRequest('Background mode requires store=true.', 'invalid_value', 'store');
        }
        const { headers, answer } = createModelCall('/v1/responses', body);
        const created = responses.create(model, answer, { background, store });
        stats.responsesCreated += 1;
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
        if (body.stream === true) throw badRequest('The mock provider does not stream: set stream to false.', 'unsupported_value', 'stream');
        const { headers, answer } = createModelCall('/v1/chat/completions', body);
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
        const batch = batches.create(body);
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

  let requestCount = 0;
  /** The answer to one request, or undefined when it was dropped (the server closing, the caller aborting). */
  const answer = async (request: MockRequest, signal?: AbortSignal): Promise<MockAnswer | undefined> => {
    requestCount += 1;
    const requestId = `req_${requestCount.toString(16).padStart(12, '0')}`;
    const { url, method } = request;
    const match = findRoute(routes, method, url.pathname);
    stats.call(match ? match.route.name : `${method} (unknown)`);
    let reply: Reply;
    try {
      if (!hasBearer(request.authorization)) {
        throw new HttpError(
          401,
          apiError("You didn't provide an API key: send 'Authorization: Bearer <any key>'.", 'invalid_request_error', 'invalid_api_key'),
        );
      }
      if (!match) throw notFound(`Invalid URL (${method} ${url.pathname})`);
      reply = await match.route.handle(contextFor(request), match.params);
    } catch (error) {
      reply =
        error instanceof HttpError
          ? { status: error.status, json: error.body, headers: error.headers }
          : { status: 500, json: apiError(`mock provider bug: ${String(error)}`, 'server_error', 'server_error') };
    }
    if (reply.delayMs !== undefined && reply.delayMs > 0) {
      try {
        await sleep(clock.toRealMs(reply.delayMs), undefined, { signal: signal ? AbortSignal.any([closing.signal, signal]) : closing.signal });
      } catch {
        return undefined;
      }
    }
    const status = reply.status ?? 200;
    stats.answered(status);
    const headers: Record<string, string> = {
      ...limiter.headers(),
      ...reply.headers,
      'x-request-id': requestId,
      'openai-processing-ms': String(Math.round(reply.delayMs ?? 0)),
    };
    if (reply.text !== undefined) return { status, headers: { ...headers, 'content-type': 'application/octet-stream' }, body: reply.text };
    return { status, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(reply.json ?? {}) };
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const answered = await answer({
      method: request.method ?? 'GET',
      url: new URL(request.url ?? '/', 'http://127.0.0.1'),
      authorization: typeof request.headers.authorization === 'string' ? request.headers.authorization : null,
      headers: () => headersOf(request),
      body: () => readBody(request),
    });
    if (!answered) {
      response.destroy();
      return;
    }
    response.writeHead(answered.status, answered.headers);
    response.end(answered.body);
  };

  /** The in-process transport: a fetch that answers from `answer` directly (other URLs go to the global fetch). */
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const target = input instanceof Request ? input.url : String(input);
    if (!target.startsWith(`${origin}/`)) return globalThis.fetch(input, init);
    const request = await fetchRequest(input, init);
    if (closing.signal.aborted) throw new TypeError('fetch failed: the mock provider is closed');
    request.signal?.throwIfAborted();
    const answered = await answer(request, request.signal);
    if (!answered) {
      request.signal?.throwIfAborted();
      throw new TypeError('fetch failed: the mock provider closed the connection');
    }
    // 204/304 and friends carry no body (the Response constructor refuses one).
    const empty = answered.status === 204 || answered.status === 304;
    return new Response(empty ? null : answered.body, { status: answered.status, headers: answered.headers });
  };

  const server = createServer((request, response) => {
    handle(request, response).catch(() => response.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: boundPort } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${boundPort}`;

  return {
    url: `${origin}/v1`,
    fetch,
    stats: () => stats.snapshot(),
    close: () =>
      new Promise<void>((resolve, reject) => {
        closing.abort();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function findRoute(routes: Route[], method: string, pathname: string): { route: Route; params: string[] } | undefined {
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

function hasBearer(header: string | null): boolean {
  return typeof header === 'string' && /^Bearer\s+\S+/.test(header);
}

function requireModel(body: Record<string, unknown>): string {
  if (typeof body.model !== 'string' || body.model === '') {
    throw badRequest("Missing required parameter: 'model'.", 'missing_required_parameter', 'model');
  }
  return body.model;
}

function contextFor(request: MockRequest): RequestContext {
  const { url } = request;
  return {
    url,
    async json() {
      const raw = (await request.body()).toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw === '' ? '{}' : raw);
      } catch {
        throw badRequest('We could not parse the JSON body of your request.', 'invalid_json');
      }
      if (!isRecord(parsed)) throw badRequest('The request body must be a JSON object.', 'invalid_json');
      return parsed;
    },
    async form() {
      const body = await request.body();
      try {
        return await new Request(url, { method: 'POST', headers: request.headers(), body }).formData();
      } catch (error) {
        throw badRequest(`Could not parse the multipart form: ${String(error)}`, 'invalid_multipart');
      }
    },
  };
}

function headersOf(request: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (typeof value === 'string') headers.set(name, value);
    else if (Array.isArray(value)) for (const item of value) headers.append(name, item);
  }
  return headers;
}

function tooLarge(): HttpError {
  return new HttpError(413, apiError('Request body too large.', 'invalid_request_error'));
}

/**
 * A fetch call as a MockRequest. A string or byte body (every JSON call of the SDK) is used as
 * is; anything else (a multipart upload) goes through a Request, which encodes it.
 */
async function fetchRequest(input: string | URL | Request, init: RequestInit = {}): Promise<MockRequest & { signal: AbortSignal | undefined }> {
  if (input instanceof Request || !(init.body === undefined || init.body === null || typeof init.body === 'string' || init.body instanceof Uint8Array)) {
    const request = new Request(input, init);
    const body = Buffer.from(await request.arrayBuffer());
    return {
      method: request.method,
      url: new URL(request.url),
      authorization: request.headers.get('authorization'),
      headers: () => request.headers,
      body: () => (body.length > MAX_BODY_BYTES ? Promise.reject(tooLarge()) : Promise.resolve(body)),
      signal: request.signal,
    };
  }
  const headers = new Headers(init.headers);
  const raw = init.body;
  const body = raw === undefined || raw === null ? Buffer.alloc(0) : typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  return {
    method: (init.method ?? 'GET').toUpperCase(),
    url: new URL(input),
    authorization: headers.get('authorization'),
    headers: () => headers,
    body: () => (body.length > MAX_BODY_BYTES ? Promise.reject(tooLarge()) : Promise.resolve(body)),
    signal: init.signal ?? undefined,
  };
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
