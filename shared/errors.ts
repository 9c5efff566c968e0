/**
 * Errors with explicit names. Step Functions Retry/Catch match Lambda errors on `name`,
 * so these names are part of the workflow's contract (see workflows/retry-policies.ts).
 */

export interface ErrorOptions {
  cause?: unknown;
}

abstract class NamedError extends Error {
  protected constructor(name: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = name;
  }
}

/** The provider answered 429. Retried with backoff and jitter. */
export class RateLimitedError extends NamedError {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super('RateLimitedError', message, options);
  }
}

/** The provider is down, timed out or answered 5xx. Retried with backoff and jitter. */
export class ProviderUnavailableError extends NamedError {
  constructor(message: string, options?: ErrorOptions) {
    super('ProviderUnavailableError', message, options);
  }
}

/** The provider refused a request as malformed (400, 404, 422). Not retried. */
export class InvalidRequestError extends NamedError {
  constructor(
    message: string,
    readonly code = 'invalid_request',
    options?: ErrorOptions,
  ) {
    super('InvalidRequestError', message, options);
  }
}

/** The provider refused our credentials (401, 403). Not retried: fix the key. */
export class ProviderAuthError extends NamedError {
  constructor(message: string, options?: ErrorOptions) {
    super('ProviderAuthError', message, options);
  }
}

/** Any other provider answer we do not understand. Not retried. */
export class ProviderError extends NamedError {
  constructor(message: string, options?: ErrorOptions) {
    super('ProviderError', message, options);
  }
}

export interface ValidationIssue {
  /** The field or line, e.g. `options.batchSize` or `line 3: custom_id`. */
  where: string;
  message: string;
}

/**
 * Input (a job request, an item, options) is invalid. `where` names the field or line;
 * `issues` lists every problem found when several lines were checked at once.
 */
export class ValidationError extends NamedError {
  readonly issues: ValidationIssue[];

  constructor(
    readonly detail: string,
    readonly where?: string,
    options?: ErrorOptions & { issues?: ValidationIssue[] },
  ) {
    super('ValidationError', where ? `${where}: ${detail}` : detail, options);
    this.issues = options?.issues ?? (where ? [{ where, message: detail }] : []);
  }
}

export class UnknownJobTypeError extends NamedError {
  constructor(
    readonly jobType: string,
    readonly registered: readonly string[],
  ) {
    super('UnknownJobTypeError', `unknown job type "${jobType}"; registered job types: ${registered.join(', ')}`);
  }
}

export class JobNotFoundError extends NamedError {
  constructor(readonly jobId: string) {
    super('JobNotFoundError', `job ${jobId} does not exist`);
  }
}

/** The job has ended (SUCCEEDED, FAILED, CANCELLED...), so it can no longer be changed, e.g. cancelled. */
export class JobAlreadyEndedError extends NamedError {
  constructor(
    readonly jobId: string,
    /** The status it ended with, when known. */
    readonly status?: string,
  ) {
    super('JobAlreadyEndedError', status ? `the job already ended ${status}` : 'the job already ended');
  }
}

/** The job's results file is written when the job ends; this job has not ended yet. */
export class ResultsNotReadyError extends NamedError {
  constructor(
    readonly jobId: string,
    readonly status: string,
  ) {
    super('ResultsNotReadyError', `the results file is written when the job ends; the job is ${status}`);
  }
}

/** A job request reused the idempotency key of an earlier, different request. */
export class IdempotencyKeyReusedError extends NamedError {
  constructor(readonly jobId: string) {
    super('IdempotencyKeyReusedError', 'this Idempotency-Key was used for a different request');
  }
}

/** The job was written but its execution could not be started; the message says how to retry. */
export class JobStartFailedError extends NamedError {
  constructor(
    readonly jobId: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super('JobStartFailedError', message, options);
  }
}

/** The job's execution cannot be redriven now; the message says why and what to do instead. */
export class JobNotRedrivableError extends NamedError {
  constructor(
    readonly jobId: string,
    readonly reason: string,
  ) {
    super('JobNotRedrivableError', `job ${jobId} cannot be redriven: ${reason}`);
  }
}

/** The job has not ended yet, so it has no final set of failed items to retry. */
export class JobNotFinishedError extends NamedError {
  constructor(
    readonly jobId: string,
    readonly status: string,
  ) {
    super('JobNotFinishedError', `job ${jobId} is ${status}: only a job that has ended can be retried`);
  }
}

/** A retry was asked of a job none of whose items failed. */
export class NoFailedItemsError extends NamedError {
  constructor(
    readonly jobId: string,
    readonly status: string,
  ) {
    super('NoFailedItemsError', `job ${jobId} ended ${status} with no FAILED items: there is nothing to retry`);
  }
}

/** A setting is missing or malformed at cold start. */
export class ConfigurationError extends NamedError {
  constructor(message: string) {
    super('ConfigurationError', message);
  }
}

/** Another invocation holds this batch's submission right now. Retried: it will finish or its lease expires. */
export class SubmissionInProgressError extends NamedError {
  constructor(message: string) {
    super('SubmissionInProgressError', message);
  }
}

/** Names of errors worth retrying, as Step Functions sees them. */
export const RETRYABLE_ERROR_NAMES = {
  rateLimited: 'RateLimitedError',
  providerUnavailable: 'ProviderUnavailableError',
  submissionInProgress: 'SubmissionInProgressError',
} as const;

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}
