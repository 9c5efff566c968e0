import { ValidationError } from './errors.js';
import { isRecord } from './is-record.js';

/** A job template, as a schedule carries it: what to run and which S3 object holds the items. */
export interface JobTemplate {
  jobType: string;
  options?: unknown;
  /** A JSONL object in the job bucket (or `bucket`) with one item per line. */
  input: { key: string; bucket?: string };
}

/**
 * What an execution of the job workflow is started with:
 * - by the API, for a job it has already written: `{ "jobId": "..." }`;
 * - by an EventBridge Scheduler schedule: its name, the scheduled time and a job template.
 */
export type ExecutionInput = { jobId: string } | { schedule: { name: string; time: string }; template: JobTemplate };

export function parseExecutionInput(raw: unknown): ExecutionInput {
  if (isRecord(raw) && typeof raw.jobId === 'string' && raw.jobId) return { jobId: raw.jobId };
  if (isRecord(raw) && isRecord(raw.schedule) && isRecord(raw.template)) {
    const { name, time } = raw.schedule;
    if (typeof name !== 'string' || !name) throw new ValidationError('must be a non-empty string', 'schedule.name');
    if (typeof time !== 'string' || Number.isNaN(Date.parse(time))) {
      throw new ValidationError('must be an ISO time', 'schedule.time');
    }
    const { jobType, options, input } = raw.template;
    if (typeof jobType !== 'string' || !jobType)
      throw new ValidationError('must be a non-empty string', 'template.jobType');
    if (!isRecord(input) || typeof input.key !== 'string' || !input.key) {
      throw new ValidationError('must be { "key": "<s3 key of a JSONL file>" }', 'template.input');
    }
    if (input.bucket !== undefined && typeof input.bucket !== 'string') {
      throw new ValidationError('must be a string', 'template.input.bucket');
    }
    return {
      schedule: { name, time },
      template: { jobType, options, input: { key: input.key, ...(input.bucket ? { bucket: input.bucket } : {}) } },
    };
  }
  throw new ValidationError(
    'expected { "jobId" } or { "schedule": { "name", "time" }, "template" }',
    'execution input',
  );
}

/**
 * One job per schedule and scheduled time: a retried or duplicated start maps to the same id.
 * Fits a Step Functions execution name (80 characters of [A-Za-z0-9-_]).
 */
export function scheduledJobId(scheduleName: string, time: string): string {
  const stamp = new Date(time)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  const name = scheduleName.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80 - stamp.length - 1);
  return `${name}-${stamp}`;
}

export function jobIdOf(input: ExecutionInput): string {
  return 'jobId' in input ? input.jobId : scheduledJobId(input.schedule.name, input.schedule.time);
}

/** The error Step Functions hands a Catch: the Lambda error's name and its JSON cause. */
export interface CaughtError {
  Error?: string;
  Cause?: string;
}

export function describeCaught(caught: CaughtError | undefined): { name: string; message: string } {
  const name = caught?.Error ?? 'UnknownError';
  let message = caught?.Cause ?? 'no cause recorded';
  try {
    const cause = JSON.parse(message) as { errorMessage?: unknown };
    if (typeof cause.errorMessage === 'string') message = cause.errorMessage;
  } catch {
    // a plain-text cause (from a Fail state or Step Functions itself)
  }
  return { name, message };
}
