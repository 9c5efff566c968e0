import { createHash, randomUUID } from 'node:crypto';
import { NoFailedItemsError, JobNotFinishedError, ValidationError } from '../../shared/errors.js';
import { isRecord } from '../../shared/is-record.js';
import { validateJob, writeJob } from '../../shared/job-intake.js';
import { isTerminalJob } from '../../shared/job-lifecycle.js';
import type { JsonlLine } from '../../shared/store/object-store.js';
import type { JobRecord } from '../../shared/types.js';
import type { ApiDeps } from './api-deps.js';
import { replay, start } from './create-job.js';
import { header, json, parseJsonBody, type HttpEvent, type HttpResult } from './http.js';
import { jobView, loadJob } from './jobs-api.js';

const KNOWN_FIELDS = ['options'];

/**
 * POST /jobs/{id}/retry: a new job of the FAILED items of a job that has ended (their lines read
 * from its manifest), linked to it by `parentJobId`, with its options, each replaced by the one
 * the body's `options` gives (validated as POST /jobs validates them). An Idempotency-Key works
 * as on POST /jobs: the first request creates the job, the same body again answers it marked
 * replayed, another body answers 409.
 */
export async function retryJob(event: HttpEvent, deps: ApiDeps): Promise<HttpResult> {
  const original = await loadJob(event, deps);
  const overrides = optionOverrides(event);
  if (!isTerminalJob(original.status)) throw new JobNotFinishedError(original.jobId, original.status);

  const idempotencyKey = header(event, 'idempotency-key');
  const requestHash = createHash('sha256')
    .update(JSON.stringify({ retryOf: original.jobId, options: overrides ?? null }))
    .digest('hex');
  const jobId = idempotencyKey
    ? `job-${createHash('sha256').update(`retry:${original.jobId}:${idempotencyKey}`).digest('hex').slice(0, 32)}`
    : `job-${randomUUID()}`;
  if (idempotencyKey) {
    const existing = await deps.store.getJob(jobId);
    if (existing) return replay(existing, requestHash, deps);
  }

  const lines = await failedLines(original, deps);
  if (lines.length === 0) throw new NoFailedItemsError(original.jobId, original.status);
  const options = overrides === undefined ? original.options : { ...original.options, ...overrides };
  const validated = await validateJob(
    { jobType: original.jobType, options },
    lines,
    deps.jobTypes,
    (n) => `failed item ${n}`,
  );
  const { job, created } = await writeJob(
    { jobId, jobType: original.jobType, options, source: 'api', requestHash, parentJobId: original.jobId },
    validated,
    deps,
  );
  if (!created) return replay(job, requestHash, deps);
  await deps.store.appendLog(
    jobId,
    'INFO',
    `job created with ${job.counts.total} items: the failed items of ${original.jobId}`,
    {
      parentJobId: original.jobId,
    },
  );
  await deps.store.appendLog(original.jobId, 'INFO', `failed items retried as job ${jobId}`, { jobId });
  const started = await start(job, deps, idempotencyKey !== undefined);
  return json(202, jobView(started, deps), { location: `/jobs/${jobId}` });
}

/** The body's `options` (an object), or undefined when there is no body or it gives none. */
function optionOverrides(event: HttpEvent): Record<string, unknown> | undefined {
  if (!event.body) return undefined;
  const body = parseJsonBody(event);
  if (!isRecord(body)) throw new ValidationError('must be a JSON object', 'body');
  for (const field of Object.keys(body))
    if (!KNOWN_FIELDS.includes(field))
      throw new ValidationError(`unknown field; known fields: ${KNOWN_FIELDS.join(', ')}`, field);
  if (body.options === undefined) return undefined;
  if (!isRecord(body.options)) throw new ValidationError('must be an object of the job options to change', 'options');
  return body.options;
}

/** The manifest lines of the job's FAILED items, in manifest order. */
async function failedLines(job: JobRecord, deps: ApiDeps): Promise<JsonlLine[]> {
  const failed = new Set<string>();
  for await (const page of deps.store.allItems(job.jobId))
    for (const item of page) if (item.status === 'FAILED') failed.add(item.customId);
  const lines: JsonlLine[] = [];
  if (failed.size === 0) return lines;
  for await (const line of deps.objects.readManifest(job.manifest))
    if (failed.has(line.customId)) lines.push({ lineNumber: lines.length + 1, value: line.line });
  return lines;
}
