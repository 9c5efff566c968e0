import { unixSeconds } from './clock.js';

/** The JSON objects the mock answers with, shaped like OpenAI's. */

export type ResponseStatus = 'queued' | 'in_progress' | 'completed' | 'cancelled' | 'failed' | 'incomplete';

/** What a response holds from its creation on: stored, journaled and answered alike. */
export interface ResponseContent {
  background: boolean;
  store: boolean;
  model: string;
  text: string;
  inputTokens: number;
  outputTokens: number;
  formatName?: string | undefined;
}

export interface ResponseFields extends ResponseContent {
  id: string;
  createdAt: number;
  /** Set once the response is completed. */
  completedAt?: number;
  status: ResponseStatus;
  /** Set when the response failed. */
  error?: { code: string | null; message: string };
}

/** A Response object (POST/GET /v1/responses): output and usage only once completed. */
export function responseObject(fields: ResponseFields): Record<string, unknown> {
  const done = fields.status === 'completed';
  return {
    id: fields.id,
    object: 'response',
    created_at: unixSeconds(fields.createdAt),
    status: fields.status,
    background: fields.background,
    completed_at: done && fields.completedAt !== undefined ? unixSeconds(fields.completedAt) : null,
    error: fields.error ? { code: fields.error.code, message: fields.error.message } : null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    metadata: {},
    model: fields.model,
    output: done
      ? [
          {
            id: `msg_${fields.id.slice('resp_'.length)}`,
            type: 'message',
            status: 'completed',
            role: 'assistant',
            content: [{ type: 'output_text', text: fields.text, annotations: [], logprobs: [] }],
          },
        ]
      : [],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: fields.store,
    temperature: 1,
    text: {
      format:
        fields.formatName !== undefined
          ? { type: 'json_schema', name: fields.formatName, strict: true }
          : { type: 'text' },
    },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage: done ? responseUsage(fields.inputTokens, fields.outputTokens) : null,
    user: null,
  };
}

function responseUsage(inputTokens: number, outputTokens: number): Record<string, unknown> {
  return {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: inputTokens + outputTokens,
  };
}

export interface ChatCompletionFields {
  id: string;
  createdAt: number;
  model: string;
  text: string;
  promptTokens: number;
  completionTokens: number;
}

/** A chat.completion object (POST /v1/chat/completions). */
export function chatCompletionObject(fields: ChatCompletionFields): Record<string, unknown> {
  return {
    id: fields.id,
    object: 'chat.completion',
    created: unixSeconds(fields.createdAt),
    model: fields.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: fields.text, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: {
      prompt_tokens: fields.promptTokens,
      completion_tokens: fields.completionTokens,
      total_tokens: fields.promptTokens + fields.completionTokens,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    },
    service_tier: 'default',
    system_fingerprint: null,
  };
}

/** OpenAI's error envelope. */
export interface ApiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function apiError(
  message: string,
  type: string,
  code: string | null = null,
  param: string | null = null,
): ApiErrorBody {
  return { error: { message, type, param, code } };
}

/** The body of a 5xx answer. */
export function serverErrorBody(status: number): ApiErrorBody {
  return status === 503
    ? apiError('The server is overloaded or not ready yet.', 'server_error', 'service_unavailable')
    : apiError(
        'The server had an error while processing your request. Sorry about that!',
        'server_error',
        'server_error',
      );
}

/** The 400 a permanently failing request gets (permanentErrorRate). */
export function permanentErrorBody(): ApiErrorBody {
  return apiError(
    "Invalid value for 'input': the mock provider rejects this request permanently (permanentErrorRate).",
    'invalid_request_error',
    'invalid_value',
    'input',
  );
}
