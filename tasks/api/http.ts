import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { ValidationError } from '../../shared/errors.js';
import { deeperThan, MAX_BODY_DEPTH } from './request-limits.js';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = Exclude<APIGatewayProxyResultV2, string>;

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/**
 * Parses a JSON body, saying what is wrong with one that is not: not UTF-8, nested deeper than
 * MAX_BODY_DEPTH, not JSON. A leading UTF-8 byte order mark (some Windows tools write one) is
 * accepted and dropped.
 */
export function parseJsonBody(event: HttpEvent): unknown {
  if (!event.body) throw new ValidationError('a JSON body is required', 'body');
  const text = bodyText(event.body, event.isBase64Encoded);
  const tooDeep = deeperThan(text, MAX_BODY_DEPTH);
  if (tooDeep !== undefined) {
    throw new ValidationError(
      `nests deeper than ${MAX_BODY_DEPTH} levels (at character ${tooDeep}); a body may nest at most ${MAX_BODY_DEPTH}`,
      'body',
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ValidationError(`not valid JSON (${(error as Error).message})`, 'body');
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const BYTE_ORDER_MARK = '\uFEFF';

/** The body as text; API Gateway base64-encodes bodies that are not text, and those must be UTF-8. */
function bodyText(body: string, isBase64Encoded: boolean): string {
  let text = body;
  if (isBase64Encoded) {
    try {
      // The decoder drops a leading byte order mark itself.
      text = UTF8.decode(Buffer.from(body, 'base64'));
    } catch {
      throw new ValidationError('is not valid UTF-8: send JSON encoded as UTF-8', 'body');
    }
  }
  return text.startsWith(BYTE_ORDER_MARK) ? text.slice(1) : text;
}

export function pathParam(event: HttpEvent, name: string): string {
  const value = event.pathParameters?.[name];
  if (!value) throw new ValidationError(`path parameter ${name} is missing`);
  return value;
}

export function header(event: HttpEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) if (key.toLowerCase() === wanted) return value;
  return undefined;
}
