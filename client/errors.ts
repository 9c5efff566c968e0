/** The API's error body: `{ "error": { "code", "message", "issues"? } }`. */
export interface ApiErrorBody {
  error?: { code?: string; message?: string; issues?: { where: string; message: string }[] };
}

/**
 * The API answered with an error status (after any retries): the request, the status, the API's
 * own code and message, and the raw body. One class for every status: match on `status` or `code`.
 */
export class LlmBatchApiError extends Error {
  /** The API's machine-readable code (`ValidationError`, `JobNotFound`...), when it sent one. */
  readonly code: string | undefined;
  /** Where the request was wrong, for a 400. */
  readonly issues: { where: string; message: string }[];

  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly body: string,
  ) {
    const parsed = parseErrorBody(body);
    super(`${method} ${url} answered ${status}: ${describe(parsed, body)}`);
    this.name = 'LlmBatchApiError';
    this.code = parsed?.error?.code;
    this.issues = parsed?.error?.issues ?? [];
  }
}

/** Nothing answered at the API's address (refused, unknown host, reset...). */
export class LlmBatchUnreachableError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`no answer from ${url} (${reasonOf(cause)}); is the API running there?`, { cause });
    this.name = 'LlmBatchUnreachableError';
  }
}

/** The client cannot be set up as asked (no region for SigV4, no token for a bearer...). */
export class LlmBatchClientConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LlmBatchClientConfigError';
  }
}

function parseErrorBody(body: string): ApiErrorBody | undefined {
  try {
    const parsed = JSON.parse(body) as unknown;
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The API's code and message as one line, else the raw answer's first line (API Gateway's own errors). */
function describe(parsed: ApiErrorBody | undefined, body: string): string {
  const error = parsed?.error;
  if (error && typeof error.message === 'string') {
    return `${typeof error.code === 'string' ? `${error.code}: ` : ''}${error.message}`;
  }
  const message = (parsed as { message?: unknown } | undefined)?.message;
  if (typeof message === 'string') return message;
  return body.split('\n')[0]?.slice(0, 200) ?? '';
}

/** fetch fails with "fetch failed" and the socket error as its cause: the cause says why. */
function reasonOf(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND') return 'unknown host';
  if (typeof code === 'string') return code;
  return cause instanceof Error ? cause.message : String(cause);
}
