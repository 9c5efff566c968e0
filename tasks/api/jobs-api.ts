import { DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import { JobAlreadyEndedError, JobNotFoundError, ResultsNotReadyError, ValidationError } from '../../shared/errors.js';
import {
  ITEM_STATUSES,
  JOB_STATUSES,
  TERMINAL_JOB_STATUSES,
  type ItemStatus,
  type JobRecord,
} from '../../shared/types.js';
import type { ApiDeps } from './api-deps.js';
import { json, pathParam, type HttpEvent, type HttpResult } from './http.js';

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

export async function loadJob(event: HttpEvent, deps: ApiDeps): Promise<JobRecord> {
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
