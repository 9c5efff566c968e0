/**
 * What a request to the API may be. A deployed API takes bodies up to 10 MB (API Gateway HTTP
 * API), but Lambda takes a synchronous invocation's event only up to 6 MB: the body (escaped as
 * a JSON string, or base64 for binary bodies, a third larger) and the rest of the event. The
 * local API refuses what Lambda would.
 */
export const LAMBDA_EVENT_MAX_BYTES = 6 * 1024 * 1024;

/**
 * How deep a JSON body may nest. DynamoDB stores documents nested up to 32 levels, and the job
 * record keeps the request's options at the depth the body has them.
 */
export const MAX_BODY_DEPTH = 32;

/** Where the first `{` or `[` deeper than `limit` is in `text` (JSON), or undefined when none is. */
export function deeperThan(text: string, limit: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (++depth > limit) return i;
    } else if (c === '}' || c === ']') depth--;
  }
  return undefined;
}
