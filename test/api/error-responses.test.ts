import { describe, expect, test } from '@jest/globals';
import {
  IdempotencyKeyReusedError,
  JobAlreadyEndedError,
  JobNotFoundError,
  JobStartFailedError,
  ProviderUnavailableError,
  ResultsNotReadyError,
  UnknownJobTypeError,
  ValidationError,
} from '../../shared/errors.js';
import { internalErrorResponse, knownErrorResponse, RouteNotFoundError } from '../../tasks/api/error-responses.js';

function answer(error: unknown): { statusCode: number | undefined; body: unknown } | undefined {
  const response = knownErrorResponse(error);
  return response && { statusCode: response.statusCode, body: JSON.parse(response.body ?? '') as unknown };
}

describe('error answers at the HTTP edge', () => {
  test.each([
    [new JobNotFoundError('job-1'), 404, { code: 'JobNotFound', message: 'job job-1 does not exist' }],
    [new RouteNotFoundError('GET', '/nope'), 404, { code: 'RouteNotFound', message: 'no route for GET /nope' }],
    [
      new IdempotencyKeyReusedError('job-1'),
      409,
      { code: 'IdempotencyKeyReused', message: 'this Idempotency-Key was used for a different request' },
    ],
    [
      new ResultsNotReadyError('job-1', 'RUNNING'),
      409,
      { code: 'ResultsNotReady', message: 'the results file is written when the job ends; the job is RUNNING' },
    ],
    [
      new JobAlreadyEndedError('job-1', 'SUCCEEDED'),
      409,
      { code: 'JobAlreadyEnded', message: 'the job already ended SUCCEEDED' },
    ],
    [new JobAlreadyEndedError('job-1'), 409, { code: 'JobAlreadyEnded', message: 'the job already ended' }],
    [new JobStartFailedError('job-1', 'submit it again'), 503, { code: 'StartFailed', message: 'submit it again' }],
  ])('GIVEN %s WHEN answered THEN status %i with its code and message', (error, statusCode, body) => {
    expect(answer(error)).toEqual({ statusCode, body: { error: body } });
  });

  test('GIVEN bad input WHEN answered THEN 400 says what was wrong where', () => {
    expect(answer(new ValidationError('must be a JSON object', 'body'))).toEqual({
      statusCode: 400,
      body: {
        error: {
          code: 'ValidationError',
          message: 'body: must be a JSON object',
          issues: [{ where: 'body', message: 'must be a JSON object' }],
        },
      },
    });
    const unknownType = new UnknownJobTypeError('nope', ['classify', 'prompt']);
    expect(answer(unknownType)).toEqual({
      statusCode: 400,
      body: {
        error: {
          code: 'UnknownJobType',
          message: unknownType.message,
          issues: [{ where: 'jobType', message: unknownType.message }],
          registered: ['classify', 'prompt'],
        },
      },
    });
  });

  test('GIVEN an error the table does not know WHEN answered THEN it is a failure of ours: a 500 that says nothing internal', () => {
    expect(answer(new ProviderUnavailableError('provider down'))).toBeUndefined();
    expect(answer(new Error('boom'))).toBeUndefined();
    expect(JSON.parse(internalErrorResponse().body ?? '')).toEqual({
      error: { code: 'InternalError', message: 'the request failed; see the API logs' },
    });
  });
});
