import type { OutputLine, ProviderErrorBody } from './types.js';

/**
 * The one place that tells an item's failure apart: sending the item again may cure a transient
 * one; a permanent one ends the item FAILED at once; a refused one (the provider's batch queue was
 * full) is no failure of the item at all: it waits for room and is sent again without spending an
 * attempt.
 */
export type FailureKind = 'transient' | 'permanent' | 'refused';

/** The code of a batch OpenAI refused because the model's batch queue was full. */
export const QUEUE_FULL_CODE = 'token_limit_exceeded';

/**
 * Codes of a server-side failure: an error-file line's (or a failed background response's)
 * `server_error`, a rate limit met inside a batch, and lines left unfinished by a batch that
 * expired or that the provider cancelled.
 */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'server_error',
  'service_unavailable',
  'internal_error',
  'rate_limit_exceeded',
  'rate_limit_error',
  'timeout',
  'batch_expired',
  'batch_cancelled',
]);

/** HTTP statuses of an answer worth sending again: 408, 409, 429 and every 5xx. */
function transientStatus(status: number | undefined): boolean {
  return status !== undefined && (status >= 500 || status === 408 || status === 409 || status === 429);
}

/**
 * Classifies an item's error by its code, or by the HTTP status of its error-file line (a line
 * with a 5xx response and a code we do not know is still a server failure). Anything else
 * (400-class codes, `invalid_request_error`, `invalid_result` from the job type) is permanent.
 */
export function classifyFailure(error: ProviderErrorBody, statusCode?: number): FailureKind {
  if (error.code === QUEUE_FULL_CODE) return 'refused';
  if (TRANSIENT_CODES.has(error.code) || /^http_(5\d\d|408|409|429)$/.test(error.code)) return 'transient';
  return transientStatus(statusCode) ? 'transient' : 'permanent';
}

/** Classifies a failed output line: its error, and the status of its response when it has one. */
export function classifyOutputLine(output: OutputLine): FailureKind {
  const error = output.error ?? { code: 'request_failed', message: '' };
  const body = output.response?.body as { error?: { type?: unknown } } | undefined;
  // OpenAI's error bodies carry a type; `server_error` with an unknown code is still the server's.
  if (body?.error?.type === 'server_error' && error.code !== QUEUE_FULL_CODE) return 'transient';
  return classifyFailure(error, output.response?.status_code);
}

/**
 * The limit OpenAI states when it refuses a batch for the queue: "... Limit: 90,000 enqueued
 * tokens. ..." (thousands separators optional); undefined when the message does not say.
 */
export function queueLimitFromMessage(message: string): number | undefined {
  const match = /Limit:\s*([\d,._ ]+)\s*enqueued tokens/i.exec(message);
  if (!match?.[1]) return undefined;
  const limit = Number(match[1].replace(/[,._ ]/g, ''));
  return Number.isSafeInteger(limit) && limit > 0 ? limit : undefined;
}

/** The error an item ends with when it ran out of attempts: its last error, with the count. */
export function outOfAttempts(error: ProviderErrorBody, attempts: number): ProviderErrorBody {
  return { code: error.code, message: `${error.message} (gave up after ${attempts} attempts)` };
}
