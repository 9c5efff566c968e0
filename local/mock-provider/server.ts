import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { scaledClock, type Clock } from '../../shared/clock.js';
import { BatchStore } from './batches.js';
import { SimClock } from './clock.js';
import { FileStore } from './files.js';
import { HttpError, notFound } from './http-error.js';
import { NO_JOURNAL, openJournal, type JournalEntry } from './journal.js';
import { LatencyModel } from './latency.js';
import { IdMaker, Outcomes } from './outcomes.js';
import { resolveOptions, type MockProviderOptions } from './options.js';
import { RateLimiter } from './request-limits.js';
import { ResponseStore } from './responses.js';
import { findRoute, mockRoutes, type Reply } from './routes.js';
import { apiError } from './shapes.js';
import { StatsCounter, type MockProviderStats } from './stats.js';
import {
  contextFor,
  fetchRequest,
  hasBearer,
  headersOf,
  readBody,
  type MockAnswer,
  type MockRequest,
} from './transport.js';

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
  /**
   * Accepted create calls per item, keyed as StatsCounter.sent says: a batch line's custom_id,
   * a response's Idempotency-Key (the product sends the SHA-256 hex of `<jobId>:<customId>`) as
   * `createsKey` shortens it.
   */
  createsPerItem(): Map<string, number>;
  /** Stops listening, drops open connections and abandons answers still waiting on latency. */
  close(): Promise<void>;
}

export type StartMockProviderOptions = Partial<MockProviderOptions> & {
  port?: number;
  /** The runtime's one clock; without it the mock keeps its own, `timeScale` times faster than the wall clock. */
  clock?: Clock;
  /**
   * A directory the mock keeps its state in (journal.ts), as a real provider outlives the
   * process that calls it: a mock started again on it answers for the objects made before.
   * Meant with a clock that continues across processes (data-dir/clock-file.ts).
   */
  dataDir?: string;
};

/**
 * Starts an OpenAI-compatible mock on 127.0.0.1 that serves what shared/provider/openai-provider.ts
 * calls through the official SDK: background and synchronous Responses, Chat Completions, Files
 * and Batches, with seeded latency, errors and OpenAI-style rate limits. State lives in memory,
 * and also in `dataDir` when one is given.
 *
 * Rate limited (RPM and TPM, 429 + retry-after): POST /v1/responses, POST /v1/chat/completions,
 * POST /v1/batches (one request, no tokens: OpenAI counts batch tokens against a separate queue
 * limit). Not limited: every GET (polling, listing, file content), cancels and file uploads;
 * their answers still carry the current x-ratelimit-* headers.
 */
export async function startMockProvider(options: StartMockProviderOptions = {}): Promise<MockProvider> {
  const { port = 0, clock: runtimeClock, dataDir, ...knobs } = options;
  const settings = resolveOptions(knobs);
  const clock = new SimClock(runtimeClock ?? scaledClock(settings.timeScale));
  const ids = new IdMaker(settings.seed);
  const outcomes = new Outcomes(settings.seed, settings.permanentErrorRate, settings.transientErrorRate);
  const limiter = new RateLimiter(clock, settings.rateLimitRpm, settings.rateLimitTpm);
  const latency = new LatencyModel(settings.seed, settings.latencyMs, settings.latencySpread);
  const kept = dataDir === undefined ? { entries: [], journal: NO_JOURNAL } : openJournal(dataDir);
  const { journal } = kept;
  const responses = new ResponseStore(clock, ids, latency, journal);
  const files = new FileStore(clock, ids, journal);
  const batches = new BatchStore(clock, ids, files, outcomes, settings, journal);
  for (const entry of kept.entries) restoreEntry(entry, { outcomes, responses, files, batches });
  outcomes.onAttempt = (key, attempt) => journal.write({ k: 'attempt', key, attempt });
  const stats = new StatsCounter();
  const closing = new AbortController();

  const routes = mockRoutes({ clock, ids, outcomes, limiter, latency, responses, files, batches, stats });

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
          apiError(
            "You didn't provide an API key: send 'Authorization: Bearer <any key>'.",
            'invalid_request_error',
            'invalid_api_key',
          ),
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
      const dropped = signal ? AbortSignal.any([closing.signal, signal]) : closing.signal;
      await clock.sleep(reply.delayMs, dropped);
      if (dropped.aborted) return undefined;
    }
    const status = reply.status ?? 200;
    stats.answered(status);
    const headers: Record<string, string> = {
      // A create's admission computed them already (its answer carries the budget it was admitted on).
      ...(hasRateLimitHeaders(reply.headers) ? undefined : limiter.headers()),
      ...reply.headers,
      'x-request-id': requestId,
      'openai-processing-ms': String(Math.round(reply.delayMs ?? 0)),
    };
    if (reply.text !== undefined)
      return { status, headers: { ...headers, 'content-type': 'application/octet-stream' }, body: reply.text };
    return {
      status,
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(reply.json ?? {}),
    };
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
    createsPerItem: () => stats.createsByItem.entries(),
    close: () =>
      new Promise<void>((resolve, reject) => {
        closing.abort();
        journal.close();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function hasRateLimitHeaders(headers: Record<string, string> | undefined): boolean {
  if (!headers) return false;
  for (const name in headers) if (name.startsWith('x-ratelimit-')) return true;
  return false;
}

/** Replays one journal entry of an earlier process into the stores, in the order they were written. */
function restoreEntry(
  entry: JournalEntry,
  stores: { outcomes: Outcomes; responses: ResponseStore; files: FileStore; batches: BatchStore },
): void {
  switch (entry.k) {
    case 'resp':
    case 'resp-cancel':
      return stores.responses.restore(entry);
    case 'file':
      return stores.files.restore(entry);
    case 'batch':
    case 'batch-cancel':
    case 'batch-result':
      return stores.batches.restore(entry);
    case 'attempt':
      return stores.outcomes.restoreAttempt(entry.key, entry.attempt);
  }
}
