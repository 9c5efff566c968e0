import {
  IdempotencyKeyReusedError,
  JobAlreadyEndedError,
  JobNotFoundError,
  JobNotFinishedError,
  JobNotRedrivableError,
  JobStartFailedError,
  NoFailedItemsError,
  ResultsNotReadyError,
  UnknownJobTypeError,
  ValidationError,
} from '../../shared/errors.js';
import { json, type HttpResult } from './http.js';
import { API_INPUT_PREFIX } from './input-key.js';
import { LAMBDA_EVENT_MAX_BYTES } from './request-limits.js';

/** A request for a method and path the API does not serve. */
export class RouteNotFoundError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
  ) {
    super(`no route for ${method} ${path}`);
    this.name = 'RouteNotFoundError';
  }
}

type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

interface ErrorAnswer {
  /** The answer to `error`, or undefined when it is not of this row's class. */
  answer(error: unknown): HttpResult | undefined;
}

/** One row of the table: errors of `type` answer `statusCode` with `code`, the message and `details`. */
function row<E extends Error>(
  type: ErrorClass<E>,
  statusCode: number,
  code: string,
  details: (error: E) => object = () => ({}),
): ErrorAnswer {
  return {
    answer: (error) =>
      error instanceof type
        ? json(statusCode, { error: { code, message: error.message, ...details(error) } })
        : undefined,
  };
}

/**
 * The one place where errors become HTTP answers: the status and the machine-readable code
 * clients match on, and for bad input what was wrong where. The first matching row answers.
 */
const ERROR_ANSWERS: readonly ErrorAnswer[] = [
  row(ValidationError, 400, 'ValidationError', (error) => ({ issues: error.issues })),
  row(UnknownJobTypeError, 400, 'UnknownJobType', (error) => ({
    issues: [{ where: 'jobType', message: error.message }],
    registered: error.registered,
  })),
  row(JobNotFoundError, 404, 'JobNotFound'),
  row(RouteNotFoundError, 404, 'RouteNotFound'),
  row(IdempotencyKeyReusedError, 409, 'IdempotencyKeyReused'),
  row(ResultsNotReadyError, 409, 'ResultsNotReady'),
  row(JobAlreadyEndedError, 409, 'JobAlreadyEnded'),
  row(JobNotRedrivableError, 409, 'JobNotRedrivable', (error) => ({ reason: error.reason })),
  row(JobNotFinishedError, 409, 'JobNotFinished'),
  row(NoFailedItemsError, 409, 'NoFailedItems'),
  row(JobStartFailedError, 503, 'StartFailed'),
];

/** The answer the table gives `error`, or undefined for an error it does not know (a failure of ours). */
export function knownErrorResponse(error: unknown): HttpResult | undefined {
  for (const entry of ERROR_ANSWERS) {
    const response = entry.answer(error);
    if (response) return response;
  }
  return undefined;
}

/** The answer to a failure of ours (an error the table does not know): a 500 that says nothing internal. */
export function internalErrorResponse(): HttpResult {
  return json(500, { error: { code: 'InternalError', message: 'the request failed; see the API logs' } });
}

/**
 * The answer to a request larger than Lambda takes (an event of `eventBytes`): what the limit is
 * and what to do instead.
 */
export function payloadTooLargeResponse(eventBytes: number): HttpResult {
  return json(413, {
    error: {
      code: 'PayloadTooLarge',
      message:
        `the request is ${eventBytes} bytes as a Lambda event; the API takes at most ${LAMBDA_EVENT_MAX_BYTES} ` +
        `(Lambda's 6 MB): put the items in a JSONL file under ${API_INPUT_PREFIX} in the job bucket and pass input.key`,
    },
  });
}
