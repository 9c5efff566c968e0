import { apiError, type ApiErrorBody } from './shapes.js';

/** An error answer: thrown by the handlers, written by the server. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.error.message);
    this.name = 'HttpError';
  }
}

export function badRequest(message: string, code: string | null = null, param: string | null = null): HttpError {
  return new HttpError(400, apiError(message, 'invalid_request_error', code, param));
}

export function notFound(message: string): HttpError {
  return new HttpError(404, apiError(message, 'invalid_request_error'));
}

export function conflict(message: string): HttpError {
  return new HttpError(409, apiError(message, 'invalid_request_error'));
}
