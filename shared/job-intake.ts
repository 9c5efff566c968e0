import { randomUUID } from 'node:crypto';
import type { Clock } from './clock.js';
import { ValidationError, type ValidationIssue } from './errors.js';
import { resolveJobOptions } from './job-options.js';
import type { JobType } from './job-types/job-type.js';
import type { JobTypeRegistry } from './job-types/registry.js';
import { MAX_ITEM_BYTES, MAX_ITEMS_PER_JOB } from './limits.js';
import type { JobStore } from './store/job-store.js';
import type { JsonlLine, ManifestLine, ObjectStore } from './store/object-store.js';
import type { JobOptions, JobRecord } from './types.js';

/** Most problems reported for one request; the rest are summarised. */
export const MAX_REPORTED_ISSUES = 20;

/** The job record keeps the options, and a DynamoDB item holds at most 400 KB: this leaves room for the rest. */
export const MAX_OPTIONS_BYTES = 300_000;

export interface NewJob {
  jobId: string;
  jobType: string;
  options?: unknown;
  source: JobRecord['source'];
  scheduleName?: string;
  requestHash?: string;
  /** The job whose failed items this one retries. */
  parentJobId?: string;
}

export interface IntakeDeps {
  store: JobStore;
  objects: ObjectStore;
  jobTypes: JobTypeRegistry;
  clock: Clock;
}

/** A job whose type, options and every item passed the checks. */
export interface CheckedJob {
  jobType: string;
  options: JobOptions;
  itemCount: number;
}

/** A checked job with its items in memory. */
export interface ValidatedJob extends CheckedJob {
  items: ManifestLine[];
}

/** What `writeJob` stores: the items in memory, or read again from their checked source. */
export interface JobToWrite extends CheckedJob {
  items: readonly ManifestLine[] | AsyncIterable<ManifestLine>;
}

export interface CheckOptions {
  /** Names an item in errors: "line 3" for files (the default), "items[2]" for API bodies. */
  label?: (lineNumber: number) => string;
  maxItems?: number;
  /** Each item that passed, in order. */
  onItem?: (item: ManifestLine) => void;
}

/** Checks a job's type, options and every item before anything is written; keeps items only in `validateJob`. */
export async function validateJob(
  request: Pick<NewJob, 'jobType' | 'options'>,
  lines: Iterable<JsonlLine> | AsyncIterable<JsonlLine>,
  jobTypes: JobTypeRegistry,
  label?: (lineNumber: number) => string,
  maxItems?: number,
): Promise<ValidatedJob> {
  const items: ManifestLine[] = [];
  const checked = await checkJob(request, lines, jobTypes, {
    ...(label && { label }),
    ...(maxItems !== undefined && { maxItems }),
    onItem: (item) => items.push(item),
  });
  return { ...checked, items };
}

/**
 * Checks a job whose lines can be read again (a file, an S3 object), holding only the ids, and
 * gives its items as `writeJob` takes them: read again while the manifest is written. A second
 * read that finds other lines throws `changed()` and no job is written.
 */
export async function checkJobReadingTwice(
  request: Pick<NewJob, 'jobType' | 'options'>,
  readLines: () => AsyncIterable<JsonlLine>,
  jobTypes: JobTypeRegistry,
  options: Omit<CheckOptions, 'onItem'> & { changed: () => Error },
): Promise<JobToWrite> {
  const { changed, ...checkOptions } = options;
  const checked = await checkJob(request, readLines(), jobTypes, checkOptions);
  const jobType = jobTypes.get(checked.jobType);
  return { ...checked, items: itemsReadAgain(readLines(), jobType, checked.itemCount, changed) };
}

/** The items of lines that passed `checkJob`, read again: every line is an item, in the same order, or `changed()`. */
export async function* itemsReadAgain(
  lines: AsyncIterable<JsonlLine>,
  jobType: JobType,
  itemCount: number,
  changed: () => Error,
): AsyncGenerator<ManifestLine> {
  let index = 0;
  for await (const entry of lines) {
    const line = entry.value;
    if (index >= itemCount || typeof line !== 'object' || line === null || Array.isArray(line)) throw changed();
    let customId: string;
    try {
      customId = jobType.parseLine(line as Record<string, unknown>).customId;
    } catch {
      throw changed();
    }
    yield { index: index++, customId, line: line as Record<string, unknown> };
  }
  if (index !== itemCount) throw changed();
}

/**
 * Checks a job's type, options and every item, holding only the ids seen (for duplicates): a
 * bad one throws a ValidationError listing the problems and where they are.
 */
export async function checkJob(
  request: Pick<NewJob, 'jobType' | 'options'>,
  lines: Iterable<JsonlLine> | AsyncIterable<JsonlLine>,
  jobTypes: JobTypeRegistry,
  { label = (n) => `line ${n}`, maxItems = MAX_ITEMS_PER_JOB, onItem }: CheckOptions = {},
): Promise<CheckedJob> {
  const jobType = jobTypes.get(request.jobType);
  const options = resolveJobOptions(request.options, jobType);
  const optionsBytes = Buffer.byteLength(JSON.stringify(options));
  if (optionsBytes > MAX_OPTIONS_BYTES) {
    throw new ValidationError(`are ${optionsBytes} bytes as JSON; the limit is ${MAX_OPTIONS_BYTES} bytes`, 'options');
  }
  // Options parsed once for the whole job. Each line is checked by building its request, which
  // submit builds again: keeping it would store the request (for classify, the label schema on
  // every line) in the manifest instead of the line, a larger manifest for a cheap rebuild.
  const compiled = jobType.compile(options);
  const issues: ValidationIssue[] = [];
  let issueCount = 0;
  let firstUnlisted: string | undefined;
  const report = (where: string, message: string) => {
    issueCount++;
    if (issues.length < MAX_REPORTED_ISSUES) issues.push({ where, message });
    else firstUnlisted ??= where;
  };
  let itemCount = 0;
  const seen = new Map<string, number>();
  for await (const entry of lines) {
    const where = label(entry.lineNumber);
    if (itemCount >= maxItems) {
      report(where, `too many items: a job holds at most ${maxItems}`);
      break;
    }
    if (entry.error !== undefined) {
      report(where, entry.error);
      continue;
    }
    if (typeof entry.value !== 'object' || entry.value === null || Array.isArray(entry.value)) {
      report(where, 'must be a JSON object');
      continue;
    }
    const line = entry.value as Record<string, unknown>;
    let customId: string;
    try {
      customId = jobType.parseLine(line).customId;
      compiled.toRequest(line);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      report(error.where ? `${where}: ${error.where}` : where, error.detail);
      continue;
    }
    const size = Buffer.byteLength(JSON.stringify(line));
    if (size > MAX_ITEM_BYTES) {
      report(where, `item is ${size} bytes; the limit is ${MAX_ITEM_BYTES} bytes (one Step Functions payload)`);
      continue;
    }
    const first = seen.get(customId);
    if (first !== undefined) {
      report(where, `duplicate id ${JSON.stringify(customId)} (first seen at ${label(first)})`);
      continue;
    }
    seen.set(customId, entry.lineNumber);
    onItem?.({ index: itemCount, customId, line });
    itemCount++;
  }
  if (issueCount === 0 && itemCount === 0) report('items', 'no items: the input is empty');
  if (issueCount > 0) {
    const unlisted = issueCount - issues.length;
    const more = unlisted > 0 ? ` (and ${unlisted} more)` : '';
    const summary = issues.map((i) => `${i.where}: ${i.message}`).join('; ');
    // The list itself says what it leaves out: clients (and the CLI) print the issues, not the message.
    const listed =
      firstUnlisted === undefined
        ? issues
        : [...issues, { where: `${firstUnlisted} and later`, message: moreProblems(unlisted) }];
    throw new ValidationError(`${issueCount} invalid item(s)${more}: ${summary}`, undefined, { issues: listed });
  }
  return { jobType: request.jobType, options, itemCount };
}

function moreProblems(count: number): string {
  return `${count} more problem${count === 1 ? '' : 's'}, not listed: only the first ${MAX_REPORTED_ISSUES} are`;
}

/**
 * Writes a validated job: the manifest first, then the job record (QUEUED), so a job record
 * never points at a missing manifest. Idempotent: an existing job is returned unchanged.
 *
 * The record's conditional create is the one claim on the job id. A job id derived from a
 * client's Idempotency-Key (a request with a `requestHash`) may be raced for with other bodies:
 * such writers each put their manifest under a key of their own, and the record points at the
 * winner's, so the job runs the items its record and its creator's answer describe. A loser's
 * manifest is left unreferenced (the API may not delete objects).
 */
export async function writeJob(
  request: NewJob,
  validated: JobToWrite,
  deps: IntakeDeps,
): Promise<{ job: JobRecord; created: boolean }> {
  const existing = await deps.store.getJob(request.jobId);
  if (existing) return { job: existing, created: false };
  const writeId = request.requestHash === undefined ? undefined : randomUUID();
  const manifest = await deps.objects.putManifest(request.jobId, validated.items, writeId);
  const now = deps.clock.now().toISOString();
  const job: JobRecord = {
    jobId: request.jobId,
    jobType: validated.jobType,
    status: 'QUEUED',
    options: validated.options,
    manifest,
    counts: { total: validated.itemCount, submitted: 0, succeeded: 0, failed: 0, cancelled: 0 },
    usage: { inputTokens: 0, outputTokens: 0 },
    source: request.source,
    ...(request.scheduleName ? { scheduleName: request.scheduleName } : {}),
    ...(request.requestHash ? { requestHash: request.requestHash } : {}),
    ...(request.parentJobId ? { parentJobId: request.parentJobId } : {}),
    createdAt: now,
    updatedAt: now,
  };
  return deps.store.createJob(job);
}
