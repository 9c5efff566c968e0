import { APIConnectionError, APIError, APIUserAbortError } from 'openai';
import {
  InvalidRequestError,
  ProviderAuthError,
  ProviderError,
  ProviderUnavailableError,
  RateLimitedError,
  errorMessage,
} from '../errors.js';

/**
 * Maps a failure of an OpenAI SDK call to our named errors, which Step Functions Retry/Catch
 * match on (see shared/errors.ts). The original error is always kept as `cause`; our own
 * provider errors pass through unchanged.
 *
 * - 429 -> RateLimitedError (retryAfterMs from `retry-after-ms` or `retry-after`), except
 *   `insufficient_quota`, which no retry cures -> ProviderError
 * - 5xx, 408, 409, connection failures and timeouts -> ProviderUnavailableError
 * - 400, 404, 422 -> InvalidRequestError (code from the API error, else 'invalid_request')
 * - 401, 403 -> ProviderAuthError
 * - anything else -> ProviderError
 */
export function toProviderError(error: unknown): Error {
  if (isOwnProviderError(error)) return error;
  const options = { cause: error };

  // Connection failures, timeouts (APIConnectionTimeoutError extends APIConnectionError) and
  // aborts are APIErrors without a status: transient.
  if (error instanceof APIConnectionError || error instanceof APIUserAbortError) {
    return new ProviderUnavailableError(`provider unreachable: ${error.message}`, options);
  }
  if (!isApiError(error)) {
    return new ProviderError(`provider call failed: ${errorMessage(error)}`, options);
  }

  const status = error.status;
  const code = typeof error.code === 'string' && error.code !== '' ? error.code : undefined;
  const message = `provider answered ${error.message}`;
  if (status === 429) {
    if (code === 'insufficient_quota') {
      return new ProviderError(`${message} (quota exhausted: check the account's billing)`, options);
    }
    return new RateLimitedError(message, retryAfterMs(error.headers), options);
  }
  if (status === undefined) return new ProviderError(message, options);
  if (status >= 500 || status === 408 || status === 409) {
    return new ProviderUnavailableError(message, options);
  }
  if (status === 400 || status === 404 || status === 422) {
    return new InvalidRequestError(message, code, options);
  }
  if (status === 401 || status === 403) return new ProviderAuthError(message, options);
  return new ProviderError(message, options);
}

/** Runs one SDK call and maps its failure to our named errors. */
export async function callOpenAI<T>(fn: () => PromiseLike<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toProviderError(error);
  }
}

/**
 * Cancels, treating "it already finished" as success: a 400/404/422 answer, or a 409 (what some
 * OpenAI-compatible servers answer) when the object is indeed no longer running. Transient
 * failures propagate.
 */
export async function cancelUnlessFinished(
  cancel: () => PromiseLike<unknown>,
  isFinished: () => Promise<boolean>,
): Promise<void> {
  try {
    await cancel();
  } catch (error) {
    const mapped = toProviderError(error);
    if (mapped instanceof InvalidRequestError) return;
    if (error instanceof APIError && error.status === 409 && (await isFinished())) return;
    throw mapped;
  }
}

/** Milliseconds to wait after a 429, from `retry-after-ms`, else `retry-after` (seconds or an HTTP date). */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number | undefined {
  const ms = nonNegative(headers?.get('retry-after-ms'));
  if (ms !== undefined) return ms;
  const header = headers?.get('retry-after')?.trim();
  if (!header) return undefined;
  const seconds = nonNegative(header);
  if (seconds !== undefined) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function nonNegative(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const number = Number(value);
  return Number.isFinite(number) && number >= 0 ? number : undefined;
}

/** `instanceof APIError` narrows to APIError<any, ...>; this keeps the declared field types. */
function isApiError(error: unknown): error is APIError {
  return error instanceof APIError;
}

function isOwnProviderError(
  error: unknown,
): error is RateLimitedError | ProviderUnavailableError | InvalidRequestError | ProviderAuthError | ProviderError {
  return (
    error instanceof RateLimitedError ||
    error instanceof ProviderUnavailableError ||
    error instanceof InvalidRequestError ||
    error instanceof ProviderAuthError ||
    error instanceof ProviderError
  );
}
