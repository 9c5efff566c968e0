import type { OutputLine } from '../types.js';
import { isPlainObject } from './validation.js';

/** The body of a successful (2xx) response in an output line, or undefined. */
export function successBody(output: OutputLine): Record<string, unknown> | undefined {
  const response = output.response;
  if (!response || response.status_code < 200 || response.status_code >= 300) return undefined;
  return isPlainObject(response.body) ? response.body : undefined;
}

/**
 * The text a model produced, from either body kind:
 * - /v1/responses: every `output_text` item of every output message, concatenated;
 * - /v1/chat/completions: `choices[0].message.content`.
 * Undefined when the body holds no text (a refusal, a tool call, another shape).
 */
export function outputText(body: unknown): string | undefined {
  if (!isPlainObject(body)) return undefined;
  if (Array.isArray(body.choices)) return chatMessage(body)?.content;
  if (Array.isArray(body.output)) {
    const texts = contentItems(body.output)
      .filter((item) => item.type === 'output_text' && typeof item.text === 'string')
      .map((item) => item.text as string);
    return texts.length > 0 ? texts.join('') : undefined;
  }
  return undefined;
}

/** The model's refusal message, if it refused (either body kind). */
export function refusalText(body: unknown): string | undefined {
  if (!isPlainObject(body)) return undefined;
  if (Array.isArray(body.choices)) return chatMessage(body)?.refusal;
  if (Array.isArray(body.output)) {
    const refusals = contentItems(body.output)
      .filter((item) => item.type === 'refusal' && typeof item.refusal === 'string')
      .map((item) => item.refusal as string);
    return refusals.length > 0 ? refusals.join('') : undefined;
  }
  return undefined;
}

function contentItems(output: unknown[]): Record<string, unknown>[] {
  return output
    .filter(isPlainObject)
    .flatMap((item): unknown[] => (Array.isArray(item.content) ? item.content : []))
    .filter(isPlainObject);
}

function chatMessage(body: Record<string, unknown>): { content?: string; refusal?: string } | undefined {
  const choices = body.choices as unknown[];
  const first: unknown = choices[0];
  if (!isPlainObject(first) || !isPlainObject(first.message)) return undefined;
  const { content, refusal } = first.message;
  return {
    ...(typeof content === 'string' ? { content } : {}),
    ...(typeof refusal === 'string' ? { refusal } : {}),
  };
}
