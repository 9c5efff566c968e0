import { NoSuchKey } from '@aws-sdk/client-s3';
import { ExecutionAlreadyExists, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { createHash, randomUUID } from 'node:crypto';
import { IdempotencyKeyReusedError, JobStartFailedError, ValidationError } from '../../shared/errors.js';
import { isRecord } from '../../shared/is-record.js';
import { checkJobReadingTwice, validateJob, writeJob } from '../../shared/job-intake.js';
import { MAX_ITEMS_PER_REQUEST } from '../../shared/limits.js';
import { ObjectChangedError, type JsonlLine } from '../../shared/store/object-store.js';
import type { JobRecord } from '../../shared/types.js';
import type { ApiDeps } from './api-deps.js';
import { header, json, parseJsonBody, type HttpEvent, type HttpResult } from './http.js';
import { checkInputKey } from './input-key.js';
import { executionArnOf, jobView } from './jobs-api.js';

/** The header that marks every answer to an Idempotency-Key after the one that created the job. */
export const REPLAYED_HEADER = 'idempotent-replayed';

const KNOWN_FIELDS = ['jobType', 'options', 'items', 'input'];

function invalid(where: string, message: string): ValidationError {
  return new ValidationError(message, where);
}

/**
 * POST /jobs: validate everything, then write the manifest and the job, then start the execution.
 *
 * With an Idempotency-Key the job id comes from the key, and the job record's conditional create
 * decides which request created the job, however many race: that one answers 202 and logs "job
 * created"; every other request with the same body answers the same job, marked replayed; any
 * with another body answers 409.
 */
export async function createJob(event: HttpEvent, deps: ApiDeps): Promise<HttpResult> {
  const body = parseJsonBody(event);
  if (!isRecord(body)) throw invalid('body', 'must be a JSON object');
  for (const field of Object.keys(body))
    if (!KNOWN_FIELDS.includes(field)) throw invalid(field, `unknown field; known fields: ${KNOWN_FIELDS.join(', ')}`);
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
    if (existing) return replay(existing, requestHash, deps);
  }

  const request = { jobType: body.jobType, options: body.options };
  // A file in S3 is read twice rather than held (it may hold a million items); a body is in memory already.
  const validated =
    'readLines' in lines
      ? await checkJobReadingTwice(request, lines.readLines, deps.jobTypes, {
          label: lines.label,
          changed: inputChanged,
        })
      : await validateJob(request, lines.entries, deps.jobTypes, lines.label, lines.maxItems);
  const { job, created } = await writeJob(
    { jobId, jobType: body.jobType, options: body.options, source: 'api', requestHash },
    validated,
    deps,
  );
  // Another request with this key created the job between our read and our write.
  if (!created) return replay(job, requestHash, deps);
  await deps.store.appendLog(jobId, 'INFO', `job created with ${job.counts.total} items`, {
    jobType: job.jobType,
    mode: job.options.mode,
  });
  const started = await start(job, deps, idempotencyKey !== undefined);
  return json(202, jobView(started, deps), { location: `/jobs/${jobId}` });
}

/** The answer to a request whose key names a job already created: the same job, or 409 for another body. */
export async function replay(existing: JobRecord, requestHash: string, deps: ApiDeps): Promise<HttpResult> {
  if (existing.requestHash !== requestHash) throw new IdempotencyKeyReusedError(existing.jobId);
  const started = await start(existing, deps, true);
  return json(202, jobView(started, deps), { [REPLAYED_HEADER]: 'true', location: `/jobs/${existing.jobId}` });
}

/** Starts the job's execution; a failure is a 503 that says how to retry. */
export async function start(job: JobRecord, deps: ApiDeps, retryable: boolean): Promise<JobRecord> {
  try {
    return await startExecution(job, deps);
  } catch (error) {
    deps.logger.error('could not start the job execution', {
      jobId: job.jobId,
      error: error instanceof Error ? error.message : String(error),
    });
    if (!retryable) {
      // Without a key the client cannot come back to this job: end it rather than leave it QUEUED.
      await deps.store.failJob(job.jobId, {
        name: 'StartExecutionFailed',
        message: 'the job could not be started; submit it again',
      });
    }
    throw new JobStartFailedError(
      job.jobId,
      retryable
        ? 'the job was created but could not be started yet; repeat the request with the same Idempotency-Key'
        : 'the job could not be started; submit it again (send an Idempotency-Key to make retries safe)',
      { cause: error },
    );
  }
}

/** The items of a request: in its body, or in a JSONL file in the job bucket (read as often as needed). */
type ItemSource =
  | { entries: Iterable<JsonlLine>; label: (n: number) => string; maxItems: number }
  | { readLines: () => AsyncIterable<JsonlLine>; label: (n: number) => string };

function itemSource(body: Record<string, unknown>, deps: ApiDeps): ItemSource {
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
    const key = checkInputKey(body.input.key);
    const read = deps.objects.rereadableJsonl({ bucket: deps.objects.bucket, key });
    return { readLines: () => readInput(read, deps.objects.bucket, key), label: (n) => `input line ${n}` };
  }
  throw invalid('items', 'is required: an array of items, or input: { "key": "<s3 key of a JSONL file>" }');
}

/** The lines of the input file; a key that names no object, or an object replaced while read, is the caller's 400. */
async function* readInput(
  read: () => AsyncIterable<JsonlLine>,
  bucket: string,
  key: string,
): AsyncGenerator<JsonlLine> {
  try {
    yield* read();
  } catch (error) {
    if (error instanceof NoSuchKey) throw invalid('input.key', `no object s3://${bucket}/${key} in the job bucket`);
    if (error instanceof ObjectChangedError) throw inputChanged();
    throw error;
  }
}

function inputChanged(): ValidationError {
  return invalid(
    'input.key',
    'the object changed while the job was being created; no job was created: send the request again',
  );
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
