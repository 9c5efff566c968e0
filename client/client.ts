import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../shared/clock.js';
import { createAuth, type AuthKind, type AuthOptions } from './auth.js';
import { LlmBatchClientConfigError } from './errors.js';
import { DEFAULT_RETRY, type RetryOptions } from './retry.js';
import { Transport } from './transport.js';
import type {
  CreateJobRequest,
  Item,
  ItemStatus,
  Job,
  JobStatus,
  ListOptions,
  LogEntry,
  Page,
  RetryJobRequest,
  UploadTarget,
} from './types.js';
import { bytesSource, fileSource, fitsInline, jsonlSource, type UploadSource } from './uploads.js';

export interface LlmBatchClientOptions {
  /** The API's base URL: the stack's ApiUrl output, or serve's http://127.0.0.1:3000. */
  baseUrl: string | URL;
  /** @default IAM (SigV4, the default credential chain) for https URLs, none for http */
  auth?: AuthOptions;
  retry?: RetryOptions;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Waits between retries and reads Retry-After dates. @default the wall clock */
  clock?: Clock;
  /** The jitter's source, from 0 to 1. @default Math.random */
  random?: () => number;
}

export interface StartOptions {
  /** Reused on every retry of this start, so the job is created once. @default a new UUID */
  idempotencyKey?: string;
}

/** A started job, and the upload it was started from when its items were too many or too large to send inline. */
export interface StartedJob {
  job: Job;
  upload?: UploadTarget;
}

const jobPath = (jobId: string) => `/jobs/${encodeURIComponent(jobId)}`;

/**
 * A typed client for every route of the llm-batch HTTP API. Requests are signed with SigV4
 * (service execute-api), carry a bearer token, or nothing, as `auth` says; 429 and 5xx answers
 * are retried; an error answer throws LlmBatchApiError with the API's code and message.
 */
export class LlmBatchClient {
  private readonly transport: Transport;
  readonly authKind: AuthKind;

  constructor(options: LlmBatchClientOptions) {
    const baseUrl = new URL(options.baseUrl);
    if (baseUrl.protocol !== 'http:' && baseUrl.protocol !== 'https:') {
      throw new LlmBatchClientConfigError(`the API URL must be http(s), got ${baseUrl.href}`);
    }
    const auth = createAuth(options.auth, baseUrl);
    this.authKind = auth.kind;
    this.transport = new Transport({
      baseUrl,
      auth,
      retry: { ...DEFAULT_RETRY, ...options.retry },
      fetch: options.fetch ?? globalThis.fetch,
      clock: options.clock ?? systemClock,
      random: options.random ?? Math.random,
    });
  }

  /** GET /health (needs no auth). */
  health(): Promise<{ status: string }> {
    return this.transport.json({ method: 'GET', path: '/health' });
  }

  /** POST /jobs as given (items inline, or input.key), with an Idempotency-Key reused on retries. */
  createJob(request: CreateJobRequest, options: StartOptions = {}): Promise<Job> {
    return this.transport.json({
      method: 'POST',
      path: '/jobs',
      body: request,
      headers: { 'idempotency-key': options.idempotencyKey ?? randomUUID() },
    });
  }

  /**
   * Starts a job of `items`: inline when they fit one request (50,000 items, Lambda's 6 MB),
   * else uploaded as JSONL through POST /uploads and started with input.key.
   */
  async startJob(
    request: { jobType: string; options?: Record<string, unknown>; items: readonly unknown[] },
    options: StartOptions = {},
  ): Promise<StartedJob> {
    const inline = { jobType: request.jobType, ...(request.options ? { options: request.options } : {}) };
    if (fitsInline(request.items.length, JSON.stringify({ ...inline, items: request.items }))) {
      return { job: await this.createJob({ ...inline, items: request.items }, options) };
    }
    const upload = await this.upload(jsonlSource(request.items));
    return { job: await this.createJob({ ...inline, input: { key: upload.key } }, options), upload };
  }

  /** GET /jobs/{id} */
  getJob(jobId: string): Promise<Job> {
    return this.transport.json({ method: 'GET', path: jobPath(jobId) });
  }

  /** GET /jobs: newest first. With `status`, a page may be short: follow nextCursor until null. */
  async listJobs(options: ListOptions & { status?: JobStatus } = {}): Promise<Page<Job>> {
    const page = await this.transport.json<{ jobs: Job[]; nextCursor: string | null }>({
      method: 'GET',
      path: '/jobs',
      query: { ...options },
    });
    return { items: page.jobs, nextCursor: page.nextCursor };
  }

  /** GET /jobs/{id}/items */
  listItems(jobId: string, options: ListOptions & { status?: ItemStatus } = {}): Promise<Page<Item>> {
    return this.transport.json({ method: 'GET', path: `${jobPath(jobId)}/items`, query: { ...options } });
  }

  /** GET /jobs/{id}/logs */
  async listLogs(jobId: string, options: ListOptions = {}): Promise<Page<LogEntry>> {
    const page = await this.transport.json<{ logs: LogEntry[]; nextCursor: string | null }>({
      method: 'GET',
      path: `${jobPath(jobId)}/logs`,
      query: { ...options },
    });
    return { items: page.logs, nextCursor: page.nextCursor };
  }

  /** GET /jobs/{id}/results: the results file (JSONL), from the answer or from S3 when the API redirects there. */
  async getResults(jobId: string): Promise<string> {
    const response = await this.transport.send({
      method: 'GET',
      path: `${jobPath(jobId)}/results`,
      acceptStatus: [303],
    });
    if (response.status !== 303) return response.text();
    await response.body?.cancel();
    // The presigned URL carries its own authorization: none of ours goes to S3.
    const location = response.headers.get('location') ?? '';
    const file = await this.transport.sendRaw({ method: 'GET', url: location, headers: {} });
    return file.text();
  }

  /** POST /jobs/{id}/cancel: the workflow cancels the job's work and ends it CANCELLED. */
  cancelJob(jobId: string): Promise<Job> {
    return this.transport.json({ method: 'POST', path: `${jobPath(jobId)}/cancel` });
  }

  /** POST /jobs/{id}/redrive: runs a failed, timed-out or stopped job's execution again from where it failed. */
  redriveJob(jobId: string): Promise<Job> {
    return this.transport.json({ method: 'POST', path: `${jobPath(jobId)}/redrive` });
  }

  /** POST /jobs/{id}/retry: a new job of the original's failed items (linked by parentJobId). */
  retryJob(jobId: string, request: RetryJobRequest = {}, options: StartOptions = {}): Promise<Job> {
    return this.transport.json({
      method: 'POST',
      path: `${jobPath(jobId)}/retry`,
      body: request,
      headers: { 'idempotency-key': options.idempotencyKey ?? randomUUID() },
    });
  }

  /** POST /uploads: a presigned PUT URL for a file of exactly `contentLength` bytes under inputs/uploads/. */
  createUpload(request: { contentLength: number; fileName?: string }): Promise<UploadTarget> {
    return this.transport.json({ method: 'POST', path: '/uploads', body: request });
  }

  /** Uploads a JSONL file from disk (streamed); returns the key to start a job with (input.key). */
  async uploadFile(path: string): Promise<UploadTarget> {
    return this.upload(await fileSource(path));
  }

  /** Uploads JSONL held in memory; returns the key to start a job with (input.key). */
  uploadJsonl(data: string | Uint8Array, fileName?: string): Promise<UploadTarget> {
    return this.upload(bytesSource(data, fileName));
  }

  private async upload(source: UploadSource): Promise<UploadTarget> {
    const target = await this.createUpload({ contentLength: source.contentLength, fileName: source.fileName });
    await this.transport.sendRaw({
      method: target.method,
      url: target.url,
      headers: target.headers,
      body: source.body,
    });
    return target;
  }
}
