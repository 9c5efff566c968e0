import type { Clock } from '../shared/clock.js';
import type { RequestAuth } from './auth.js';
import { LlmBatchApiError, LlmBatchUnreachableError } from './errors.js';
import { isRetryableStatus, retryAfterMs, retryDelayMs, type ResolvedRetryOptions } from './retry.js';

export type Query = Record<string, string | number | undefined>;

/** One call of the API: a path under the base URL, an optional JSON body and extra headers. */
export interface ApiRequest {
  method: 'GET' | 'POST';
  path: string;
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  /** Answers that are not errors besides 2xx (GET results answers 303 with a presigned URL). */
  acceptStatus?: readonly number[];
}

/** A request to an absolute URL with no API auth (a presigned S3 URL), whose body can be made again per attempt. */
export interface RawRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: () => RequestInit['body'];
}

export interface TransportOptions {
  baseUrl: URL;
  auth: RequestAuth;
  retry: ResolvedRetryOptions;
  fetch: typeof fetch;
  clock: Clock;
  random: () => number;
}

/**
 * Sends requests: signs each attempt (a SigV4 signature carries its time), retries 429 and 5xx
 * answers (Retry-After, else backoff with full jitter), and turns the final error answer into an
 * LlmBatchApiError. The same headers go out on every attempt, so an Idempotency-Key is reused.
 */
export class Transport {
  constructor(private readonly options: TransportOptions) {}

  get baseUrl(): URL {
    return this.options.baseUrl;
  }

  /** The URL of `path` under the base URL (which may have a path of its own, e.g. a stage). */
  urlOf(path: string, query: Query = {}): URL {
    const base = this.options.baseUrl.href.replace(/\/+$/, '');
    const url = new URL(`${base}${path}`);
    for (const [name, value] of Object.entries(query))
      if (value !== undefined) url.searchParams.set(name, String(value));
    return url;
  }

  /** The answer to an API request (2xx or accepted), after retries. */
  async send(request: ApiRequest): Promise<Response> {
    const url = this.urlOf(request.path, request.query);
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...request.headers,
    };
    return this.withRetries(request.method, url.href, request.acceptStatus ?? [], async () =>
      this.options.fetch(url, {
        method: request.method,
        headers: await this.options.auth.headersFor({
          method: request.method,
          url,
          headers,
          ...(body ? { body } : {}),
        }),
        ...(body !== undefined ? { body } : {}),
        redirect: 'manual',
      }),
    );
  }

  /** The API's JSON answer to `request`. */
  async json<T>(request: ApiRequest): Promise<T> {
    const response = await this.send(request);
    return (await response.json()) as T;
  }

  /** A request outside the API (a presigned URL): retried the same way, never signed. */
  sendRaw(request: RawRequest): Promise<Response> {
    return this.withRetries(request.method, request.url, [], () => {
      const body = request.body?.();
      return this.options.fetch(request.url, {
        method: request.method,
        headers: request.headers,
        ...(body !== undefined ? { body, duplex: 'half' } : {}),
      });
    });
  }

  private async withRetries(
    method: string,
    url: string,
    acceptStatus: readonly number[],
    attempt: () => Promise<Response>,
  ): Promise<Response> {
    const { clock, retry, random } = this.options;
    for (let attempts = 1; ; attempts++) {
      let response: Response;
      try {
        response = await attempt();
      } catch (error) {
        throw new LlmBatchUnreachableError(url, error);
      }
      if (response.ok || acceptStatus.includes(response.status)) return response;
      const text = await response.text();
      if (isRetryableStatus(response.status)) {
        const wait = retryDelayMs(
          attempts,
          retryAfterMs(response.headers.get('retry-after'), clock.now()),
          retry,
          random,
        );
        if (wait !== undefined) {
          await clock.sleep(wait);
          continue;
        }
      }
      throw new LlmBatchApiError(method, url, response.status, text);
    }
  }
}
