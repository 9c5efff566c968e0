import { isRecord } from '../../shared/is-record.js';
/**
 * What the mock answers and what a request costs: deterministic text or a structured-output
 * label, and token counts estimated from characters (about 4 characters per token).
 */

/** The endpoints the mock serves requests on (directly or as batch lines). */
export type RequestEndpoint = '/v1/responses' | '/v1/chat/completions';

/** Output tokens assumed for the rate-limit estimate when the request sets no maximum. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 256;

const PROMPT_PREFIX_CHARS = 40;

/** Keys whose string values are not text the model reads. */
const NON_TEXT_KEYS = new Set(['role', 'type', 'id', 'status', 'name', 'detail', 'file_id', 'image_url', 'call_id']);

export interface Answer {
  text: string;
  inputTokens: number;
  outputTokens: number;
  /** The structured-output format's name, when the request asked for one. */
  formatName?: string;
}

/** The answer to a request: a label as JSON when it asks for one, else "mock answer to: ...". */
export function answerFor(
  body: Record<string, unknown>,
  endpoint: RequestEndpoint,
  pick: (count: number) => number,
): Answer {
  const format = structuredFormat(body, endpoint);
  const labels = format?.labels;
  const prompt = promptText(body, endpoint);
  const text =
    labels && labels.length > 0
      ? JSON.stringify({ label: labels[pick(labels.length)] })
      : `mock answer to: ${prompt.replace(/\s+/g, ' ').trim().slice(0, PROMPT_PREFIX_CHARS)}`;
  return {
    text,
    inputTokens: tokensOf(inputChars(body, endpoint)),
    outputTokens: tokensOf(text.length),
    ...(format?.name !== undefined && { formatName: format.name }),
  };
}

/** The tokens a request is charged against the TPM limit: its input plus its maximum output. */
export function estimateTokens(body: Record<string, unknown>, endpoint: RequestEndpoint): number {
  const maxOutput =
    endpoint === '/v1/responses' ? body.max_output_tokens : (body.max_completion_tokens ?? body.max_tokens);
  const output = typeof maxOutput === 'number' && maxOutput > 0 ? maxOutput : DEFAULT_MAX_OUTPUT_TOKENS;
  return tokensOf(inputChars(body, endpoint)) + output;
}

/** The input tokens of a request (what a batch enqueues against the model's batch queue limit). */
export function inputTokensOf(body: Record<string, unknown>, endpoint: RequestEndpoint): number {
  return tokensOf(inputChars(body, endpoint));
}

export function tokensOf(chars: number): number {
  return Math.ceil(chars / 4);
}

/** The user's text: the input of a response, or the last user message of a chat. */
function promptText(body: Record<string, unknown>, endpoint: RequestEndpoint): string {
  if (endpoint === '/v1/responses') return collectText(body.input).join(' ');
  const messages = Array.isArray(body.messages) ? body.messages.filter(isRecord) : [];
  const lastUser = messages.filter((message) => message.role === 'user').at(-1) ?? messages.at(-1);
  return collectText(lastUser?.content).join(' ');
}

function inputChars(body: Record<string, unknown>, endpoint: RequestEndpoint): number {
  const parts =
    endpoint === '/v1/responses'
      ? [...collectText(body.instructions), ...collectText(body.input)]
      : collectText(body.messages);
  return parts.reduce((sum, part) => sum + part.length, 0);
}

function collectText(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) collectText(item, out);
  else if (isRecord(value)) {
    for (const [key, item] of Object.entries(value)) if (!NON_TEXT_KEYS.has(key)) collectText(item, out);
  }
  return out;
}

/**
 * The json_schema structured-output format of a request, if any: Responses `text.format`, or
 * Chat Completions `response_format.json_schema`. `labels` is the schema's `label` enum (the
 * classify job type).
 */
function structuredFormat(
  body: Record<string, unknown>,
  endpoint: RequestEndpoint,
): { name?: string; labels?: string[] } | undefined {
  let format: Record<string, unknown> | undefined;
  if (endpoint === '/v1/responses') {
    const text = isRecord(body.text) ? body.text : undefined;
    const candidate = text && isRecord(text.format) ? text.format : undefined;
    if (candidate?.type === 'json_schema') format = candidate;
  } else {
    const responseFormat = isRecord(body.response_format) ? body.response_format : undefined;
    if (responseFormat?.type === 'json_schema' && isRecord(responseFormat.json_schema)) {
      format = responseFormat.json_schema;
    }
  }
  if (!format) return undefined;
  const schema = isRecord(format.schema) ? format.schema : undefined;
  const properties = schema && isRecord(schema.properties) ? schema.properties : undefined;
  const label = properties && isRecord(properties.label) ? properties.label : undefined;
  const labels = Array.isArray(label?.enum) ? label.enum.filter((item) => typeof item === 'string') : undefined;
  return {
    ...(typeof format.name === 'string' && { name: format.name }),
    ...(labels && { labels }),
  };
}
