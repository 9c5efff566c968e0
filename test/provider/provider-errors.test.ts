import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  NotFoundError,
  PermissionDeniedError,
  UnprocessableEntityError,
} from 'openai';
import { describe, expect, test } from '@jest/globals';
import {
  InvalidRequestError,
  ProviderAuthError,
  ProviderError,
  ProviderUnavailableError,
  RateLimitedError,
} from '../../shared/errors.js';
import { retryAfterMs, toProviderError } from '../../shared/provider/provider-errors.js';
import { apiBody, headers, rateLimit, serverError } from './provider-fixtures.js';

describe('toProviderError', () => {
  test.each([
    ['retry-after-ms', { 'retry-after-ms': '1500' }, 1500],
    ['retry-after in seconds', { 'retry-after': '2' }, 2000],
    ['retry-after-ms over retry-after', { 'retry-after-ms': '250', 'retry-after': '9' }, 250],
    ['no header', {}, undefined],
    ['a header that is not a number', { 'retry-after-ms': 'soon' }, undefined],
  ])('429 with %s is a RateLimitedError', (_case, entries, expected) => {
    // Arrange
    const error = rateLimit(entries);

    // Act
    const mapped = toProviderError(error);

    // Assert
    expect(mapped).toBeInstanceOf(RateLimitedError);
    expect((mapped as RateLimitedError).retryAfterMs).toBe(expected);
    expect(mapped.cause).toBe(error);
  });

  test('retry-after as an HTTP date is the time until then', () => {
    // Arrange
    const now = Date.parse('2026-11-01T12:00:00Z');

    // Act
    const wait = retryAfterMs(headers({ 'retry-after': 'Sun, 01 Nov 2026 12:00:30 GMT' }), now);

    // Assert
    expect(wait).toBe(30_000);
  });

  test('429 insufficient_quota is a permanent ProviderError', () => {
    // Act
    const mapped = toProviderError(rateLimit({}, 'insufficient_quota'));

    // Assert
    expect(mapped).toBeInstanceOf(ProviderError);
  });

  test.each([
    ['500', serverError(500)],
    ['503', serverError(503)],
    ['408', new APIError(408, apiBody('timeout'), 'timeout', headers())],
    ['409', new ConflictError(409, apiBody('conflict'), 'conflict', headers())],
    ['a connection error', new APIConnectionError({ message: 'ECONNRESET' })],
    ['a timeout', new APIConnectionTimeoutError()],
  ])('%s is a ProviderUnavailableError', (_case, error) => {
    // Act
    const mapped = toProviderError(error);

    // Assert
    expect(mapped).toBeInstanceOf(ProviderUnavailableError);
    expect(mapped.name).toBe('ProviderUnavailableError');
    expect(mapped.cause).toBe(error);
  });

  test.each([
    ['400', new BadRequestError(400, apiBody('bad', 'invalid_value'), 'bad', headers()), 'invalid_value'],
    ['404', new NotFoundError(404, apiBody('nope', 'model_not_found'), 'nope', headers()), 'model_not_found'],
    ['422', new UnprocessableEntityError(422, apiBody('no'), 'no', headers()), 'invalid_request'],
  ])('%s is an InvalidRequestError with the API code', (_case, error, code) => {
    // Act
    const mapped = toProviderError(error);

    // Assert
    expect(mapped).toBeInstanceOf(InvalidRequestError);
    expect((mapped as InvalidRequestError).code).toBe(code);
    expect(mapped.cause).toBe(error);
  });

  test.each([
    ['401', new AuthenticationError(401, apiBody('bad key'), 'bad key', headers())],
    ['403', new PermissionDeniedError(403, apiBody('forbidden'), 'forbidden', headers())],
  ])('%s is a ProviderAuthError', (_case, error) => {
    // Act
    const mapped = toProviderError(error);

    // Assert
    expect(mapped).toBeInstanceOf(ProviderAuthError);
    expect(mapped.cause).toBe(error);
  });

  test.each([
    ['an unexpected status', new APIError(418, apiBody('teapot'), 'teapot', headers())],
    ['a plain error', new TypeError('x is undefined')],
    ['a thrown string', 'weird'],
  ])('%s is a ProviderError', (_case, error) => {
    // Act
    const mapped = toProviderError(error);

    // Assert
    expect(mapped).toBeInstanceOf(ProviderError);
    expect(mapped.name).toBe('ProviderError');
    expect(mapped.cause).toBe(error);
  });

  test('our own errors pass through unchanged', () => {
    // Arrange
    const own = [
      new RateLimitedError('slow', 10),
      new ProviderUnavailableError('down'),
      new InvalidRequestError('bad', 'code'),
      new ProviderAuthError('key'),
      new ProviderError('odd'),
    ];

    // Act
    const mapped = own.map((error) => toProviderError(error));

    // Assert
    mapped.forEach((error, index) => expect(error).toBe(own[index]));
  });
});
