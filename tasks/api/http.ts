import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { JobNotFoundError, UnknownJobTypeError, ValidationError, type ValidationIssue } from '../../shared/errors.js';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = Exclude<APIGatewayProxyResultV2, string>;

/** An answer other than success, with a machine-readable code and, for bad input, where. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly issues?: ValidationIssue[],
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/** Our named errors as HTTP answers; anything else is a 500 that says nothing internal. */
export function errorResponse(error: unknown): HttpResult {
  if (error instanceof HttpError) {
    return json(error.statusCode, { error: { code: error.code, message: error.message, ...(error.issues ? { issues: error.issues } : {}) } });
  }
  if (error instanceof ValidationError) {
    return json(400, { error: { code: 'ValidationError', message: error.message, issues: error.issues } });
  }
  if (error instanceof UnknownJobTypeError) {
    return json(400, {
      error: { code: 'UnknownJobType', message: error.message, issues: [{ where: 'jobType', message: error.message }], registered: error.registered },
    });
  }
  if (error instanceof JobNotFoundError) {
    return json(404, { error: { code: 'JobNotFound', message: error.message } });
  }
  return json(500, { error: { code: 'InternalError', message: 'the request failed; see the API logs' } });
}

/** Parses a JSON body, saying what is wrong with one that is not. */
export function parseJsonBody(event: HttpEvent): unknown {
  if (!event.body) throw new HttpError(400, 'ValidationError', 'body: a JSON body is required', [{ where: 'body', message: 'a JSON body is required' }]);
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const message = `not valid JSON (${(error as Error).message})`;
    throw new HttpError(400, 'ValidationError', `body: ${message}`, [{ where: 'body', message }]);
  }
}

export function pathParam(event: HttpEvent, name: string): string {
  const value = event.pathParameters?.[name];
  if (!value) throw new HttpError(400, 'ValidationError', `path parameter ${name} is missing`);
  return value;
}

export function header(event: HttpEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) if (key.toLowerCase() === wanted) return value;
  return undefined;
}
