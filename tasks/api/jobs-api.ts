import { DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import { NoSuchKey } from '@aws-sdk/client-s3';
import { ExecutionAlreadyExists, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { createHash, randomUUID } from 'node:crypto';
import {
  IdempotencyKeyReusedError,
  JobAlreadyEndedError,
  JobNotFoundError,
  JobStartFailedError,
  ResultsNotReadyError,
  ValidationError,
} from '../../shared/errors.js';
import { validateJob, writeJob } from '../../shared/job-intake.js';
import { MAX_ITEMS_PER_REQUEST } from '../../shared/limits.js';
import type { JsonlLine } from '../../shared/store/object-store.js';
import {
  ITEM_STATUSES,
  JOB_STATUSES,
  TERMINAL_JOB_STATUSES,
  type ItemStatus,
  type JobRecord,
} from '../../shared/types.js';
import type { ApiDeps } from './api-deps.js';
import { header, json, parseJsonBody, pathParam, type HttpEvent, type HttpResult } from './http.js';
import { isRecord } from '../../shared/is-record.js';

/** Where API callers put input files in the job bucket: the only prefix the API may read. */
export const API_INPUT_PREFIX = 'inputs/';

/**
 * Results files up to this size (as escaped in Lambda's JSON answer) come back in the response;
 * larger ones by a presigned URL. Lambda answers at most 6 MB; this leaves room for the rest.
 */
export const INLINE_RESULTS_MAX_BYTES = 5 * 1024 * 1024;
const DEFAULT_PAGE = 50;
const MAX_PAGE = 1000;

function invalid(where: string, message: string): ValidationError {
  return new ValidationError(message, where);
}

/** POST /jobs: validate everything, then write the manifest and job, then start the execution. */
export async function createJob(event: HttpEvent, deps: ApiDeps): Promise<HttpResult> {
  const body = parseJsonBody(event);
  if (!isRecord(body)) throw invalid('body', 'must be a JSON object');
  const known = new Set(['jobType', 'options', 'items', 'input']);
  for (const field of Object.keys(body))
    if (!known.has(field)) throw invalid(field, `unknown field; known fields: ${[...known].join(', ')}`);
  if (typeof body.jobType !== 'string' || !body.jobType) {
    throw invalid('jobType', `is required; registered job types: ${deps.jobTypes.names().join(', ')}`);
  }
  const lines = itemSource(body, deps);

  const idempotencyKey = header(event, 'idempotency-key');
  const requestHash = createHash('sha256').update(JSON.stringify(body)).digest('hex');
  const jobId = idempotencyKey
    ? `job-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32)}`
    : `job-${randomUUID()}`;

  if (idempotencyKey) {
    const existing = await deps.store.getJob(jobId);
    if (existing) {
      if (existing.requestHash !== requestHash) {
        throw new IdempotencyKeyReusedError(jobId);
      }
      const started = await startExecution(existing, deps);
      return json(202, jobView(started, deps), { 'idempotent-replayed': 'true', location: `/jobs/${jobId}` });
    }
  }

  const validated = await validateJob(
    { jobType: body.jobType, options: body.options },
    lines.entries,
    deps.jobTypes,
    lines.label,
    lines.maxItems,
  );
  const { job } = await writeJob(
    { jobId, jobType: body.jobType, options: body.options, source: 'api', requestHash },
    validated,
    deps,
  );
  await deps.store.appendLog(jobId, 'INFO', `job created with ${job.counts.total} items`, {
    jobType: job.jobType,
    mode: job.options.mode,
  });
  let started: JobRecord;
  try {
    started = await startExecution(job, deps);
  } catch (error) {
    deps.logger.error('could not start the job execution', {
      jobId,
      error: error instanceof Error ? error.message : String(error),
    });
    if (!idempotencyKey) {
      // Without a key the client cannot come back to this job: end it rather than leave it QUEUED.
      await deps.store.failJob(jobId, {
        name: 'StartExecutionFailed',
        message: 'the job could not be started; submit it again',
      });
    }
    throw new JobStartFailedError(
      jobId,
      idempotencyKey
        ? 'the job was created but could not be started yet; repeat the request with the same Idempotency-Key'
        : 'the job could not be started; submit it again (send an Idempotency-Key to make retries safe)',
      { cause: error },
    );
  }
  return json(202, jobView(started, deps), { location: `/jobs/${jobId}` });
}

function itemSource(
  body: Record<string, unknown>,
  deps: ApiDeps,
): { entries: Iterable<JsonlLine> | AsyncIterable<JsonlLine>; label: (n: number) => string; maxItems: number } {
  if (body.items !== undefined && body.input !== undefined)
    throw invalid('items', 'give either items or input, not both');
  if (Array.isArray(body.items)) {
    if (body.items.length > MAX_ITEMS_PER_REQUEST) {
      throw invalid(
        'items',
        `has ${body.items.length} items; a request holds at most ${MAX_ITEMS_PER_REQUEST} (put larger jobs in a JSONL file in S3 and pass input.key)`,
      );
    }
    const items = body.items as unknown[];
    return {
      entries: items.map((value, index) => ({ lineNumber: index + 1, value })),
      label: (n) => `items[${n - 1}]`,
      maxItems: MAX_ITEMS_PER_REQUEST,
    };
  }
  if (body.items !== undefined) throw invalid('items', 'must be an array of items');
  if (body.input !== undefined && !isRecord(body.input))
    throw invalid('input', 'must be an object: { "key": "<s3 key of a JSONL file>" }');
  if (isRecord(body.input)) {
    const key = body.input.key;
    if (typeof key !== 'string' || !key)
      throw invalid('input.key', 'must be the S3 key of a JSONL file in the job bucket');
    // The API may read only this prefix of the job bucket (the stack grants nothing else).
    if (!key.startsWith(API_INPUT_PREFIX))
      throw invalid('input.key', `must be under ${API_INPUT_PREFIX} in the job bucket, got "${key}"`);
    return { entries: readInput(deps, key), label: (n) => `input line ${n}`, maxItems: Number.POSITIVE_INFINITY };
  }
  throw invalid('items', 'is required: an array of items, or input: { "key": "<s3 key of a JSONL file>" }');
}

/** The lines of the input file; a key that names no object is the caller's mistake (400), not ours. */
async function* readInput(deps: ApiDeps, key: string): AsyncGenerator<JsonlLine> {
  try {
    yield* deps.objects.readJsonl({ bucket: deps.objects.bucket, key });
  } catch (error) {
    if (error instanceof NoSuchKey)
      throw invalid('input.key', `no object s3://${deps.objects.bucket}/${key} in the job bucket`);
    throw error;
  }
}

/** Starts the job's execution, named after the job, unless it has one. */
async function startExecution(job: JobRecord, deps: ApiDeps): Promise<JobRecord> {
  if (job.executionArn) return job;
  let executionArn: string;
  try {
    const started = await deps.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: deps.stateMachineArn,
        name: job.jobId,
        input: JSON.stringify({ jobId: job.jobId }),
      }),
    );
    executionArn = started.executionArn ?? executionArnOf(deps.stateMachineArn, job.jobId);
  } catch (error) {
    // Same name, same input: the execution exists already (a concurrent or retried request).
    if (!(error instanceof ExecutionAlreadyExists)) throw error;
    executionArn = executionArnOf(deps.stateMachineArn, job.jobId);
  }
  await deps.store.setExecutionArn(job.jobId, executionArn);
  return { ...job, executionArn };
}

export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

/** GET /jobs/{id} */
export async function getJob(event: HttpEvent, deps: ApiDeps): Promise<HttpResult> {
  return json(200, jobView(await loadJob(event, deps), deps));
}

/** GET /jobs?status=&limit=&cursor= */
export async function listJobs(event: HttpEvent, deps: ApiDeps): Promise<HttpResult> {
  const query = event.queryStringParameters ?? {};
  const status = enumParam(query.status, 'status', JOB_STATUSES);
  const page = await withCursor(query.cursor, (cursor) =>
    deps.store.listJobs({ status, limit: limitParam(query.limit), cursor }),
  );
  return json(200, { jobs: page.items.map((job) => jobView(job, deps)), nextCursor: page.cursor ?? null });
}

/** GET /jobs/{id}/items?status=&limit=&cursor= */
export async function listItems(event: HttpEvent, deps: ApiDeps): Promise<HttpResult> {
  const job = await loadJob(event, deps);
  const query = event.queryStringParameters ?? {};
  const status = enumParam<ItemStatus>(query.status, 'status', ITEM_STATUSES);
  const page = await withCursor(query.cursor, (cursor) =>
    deps.store.listItems(job.jobId, { status, limit: limitParam(query.limit), cursor }),
  );
  return json(200, { items: page.items, nextCursor: page.cursor ?? null });
}

/** GET /jobs/{id}/logs?limit=&cursor= */
export async function listLogs(event: HttpEvent, deps: ApiDeps): Promise<HttpResult> {
  const job = await loadJob(event, deps);
  const query = event.queryStringParameters ?? {};
  const page = await withCursor(query.cursor, (cursor) =>
    deps.store.listLogs(job.jobId, { limit: limitParam(query.limit), cursor }),
  );
  return json(200, { logs: page.items, nextCursor: page.cursor ?? null });
}

/** GET /jobs/{id}/results: the results file (JSONL), inline when small, else a redirect to S3. */
export async function getResults(event: HttpEvent, deps: ApiDeps): Promise<HttpResult> {
  const job = await loadJob(event, deps);
  if (!job.results) {
    throw new ResultsNotReadyError(job.jobId, job.status);
  }
  const body = await deps.objects.readIfSmall(job.results, INLINE_RESULTS_MAX_BYTES);
  // Lambda's answer (at most 6 MB) carries the body as a JSON string: quotes, backslashes and
  // newlines take two bytes there, so it is the escaped size that must fit.
  if (body !== undefined && escapedBytes(body) <= INLINE_RESULTS_MAX_BYTES) {
    return { statusCode: 200, headers: { 'content-type': 'application/x-ndjson' }, body };
  }
  return { statusCode: 303, headers: { location: await deps.objects.presignGet(job.results) }, body: '' };
}

/** Bytes of `text` once escaped as a JSON string, without its quotes. */
function escapedBytes(text: string): number {
  return Buffer.byteLength(JSON.stringify(text)) - 2;
}

/** POST /jobs/{id}/cancel: the workflow cancels provider work and ends the job CANCELLED. */
export async function cancelJob(event: HttpEvent, deps: ApiDeps): Promise<HttpResult> {
  const job = await loadJob(event, deps);
  if (TERMINAL_JOB_STATUSES.includes(job.status)) {
    throw new JobAlreadyEndedError(job.jobId, job.status);
  }
  const updated = await deps.store.requestCancel(job.jobId);
  // It ended between the read and the request.
  if (!updated) throw new JobAlreadyEndedError(job.jobId);
  if (!job.cancelRequested) await deps.store.appendLog(job.jobId, 'INFO', 'cancellation requested');
  return json(202, jobView(updated, deps));
}

export function health(): HttpResult {
  return json(200, { status: 'ok' });
}

async function loadJob(event: HttpEvent, deps: ApiDeps): Promise<JobRecord> {
  const jobId = pathParam(event, 'id');
  const job = await deps.store.getJob(jobId);
  if (!job) throw new JobNotFoundError(jobId);
  return job;
}

function enumParam<T extends string>(value: string | undefined, name: string, allowed: readonly T[]): T | undefined {
  if (value === undefined || value === '') return undefined;
  if (!allowed.includes(value as T)) throw invalid(`query.${name}`, `must be one of ${allowed.join(', ')}`);
  return value as T;
}

function limitParam(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_PAGE;
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
    throw invalid('query.limit', `must be an integer from 1 to ${MAX_PAGE}`);
  return limit;
}

/**
 * Reads a page from `cursor`. A cursor that does not decode is refused by the store (RangeError);
 * one that decodes but belongs to another listing (another job's items, a logs cursor) is refused
 * by DynamoDB as a bad ExclusiveStartKey (ValidationException): both are the caller's mistake.
 */
async function withCursor<T>(cursor: string | undefined, read: (cursor: string | undefined) => Promise<T>): Promise<T> {
  try {
    return await read(cursor);
  } catch (error) {
    if (error instanceof RangeError) throw invalid('query.cursor', error.message);
    if (cursor && isRefusedAsInvalid(error)) {
      throw invalid('query.cursor', 'cursor is not one this API returned for this listing');
    }
    throw error;
  }
}

/** DynamoDB refused the request as invalid: the SDK has no class for its ValidationException, only the name. */
function isRefusedAsInvalid(error: unknown): boolean {
  return error instanceof DynamoDBServiceException && error.name === 'ValidationException';
}

/** A job as the API shows it: counts, progress, timestamps, the execution and links. */
export function jobView(job: JobRecord, deps: Pick<ApiDeps, 'region'>) {
  const { requestHash: _hash, ...fields } = job;
  const finished = job.counts.succeeded + job.counts.failed + job.counts.cancelled;
  const self = `/jobs/${job.jobId}`;
  return {
    ...fields,
    progress: {
      finished,
      total: job.counts.total,
      percent: job.counts.total ? Math.floor((finished / job.counts.total) * 1000) / 10 : 100,
    },
    execution: job.executionArn
      ? {
          arn: job.executionArn,
          consoleUrl: `https://${deps.region}.console.aws.amazon.com/states/home?region=${deps.region}#/v2/executions/details/${job.executionArn}`,
        }
      : null,
    links: { self, items: `${self}/items`, results: `${self}/results`, logs: `${self}/logs`, cancel: `${self}/cancel` },
  };
}
