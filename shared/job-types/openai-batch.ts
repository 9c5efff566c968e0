import { ValidationError } from '../errors.js';
import { SUPPORTED_URLS, type JobOptions, type OutputLine, type ProviderRequest, type SupportedUrl } from '../types.js';
import type { CompiledJobType, JobType } from './job-type.js';
import { outputText, successBody } from './output-text.js';
import {
  requireItemId,
  kindOf,
  optionalString,
  paramsOf,
  rejectUnknownKeys,
  requireLineObject,
  requireObject,
  requireString,
} from './validation.js';

/**
 * `openai-batch`: every line already is an OpenAI Batch request line
 * ({"custom_id", "method": "POST", "url", "body"}). The job's model, if set, is the default for
 * lines whose body has none. The result is the response's output text.
 */
export const openaiBatchJobType = {
  name: 'openai-batch',
  description:
    'Lines are OpenAI Batch request lines ({custom_id, method: "POST", url, body}) sent as they are; ' +
    'the job model, if set, fills in a missing body.model. Result: the output text.',

  /** The job's model, if set, is the default for lines whose body has none. */
  compile(options: JobOptions) {
    const defaultModel = optionalString(options.model, 'model');
    rejectUnknownKeys(paramsOf(options), [], 'params');
    return {
      /** Also checks that the line has a model, or the job a default one. */
      toRequest(line: Record<string, unknown>): ProviderRequest {
        const request = parseRequestLine(line);
        const model = request.body.model ?? defaultModel;
        if (model === undefined) {
          throw new ValidationError(
            'is required: set body.model on the line or a default model in the job options',
            'body.model',
          );
        }
        requireString(model, 'body.model');
        return { ...request, body: { ...request.body, model } };
      },
      /** The output text; undefined when the response has none (a refusal, a tool call...). */
      toResult(output: OutputLine): string | undefined {
        return outputText(successBody(output));
      },
    } satisfies CompiledJobType;
  },

  parseLine(line: Record<string, unknown>): { customId: string } {
    return { customId: parseRequestLine(line).custom_id };
  },
} satisfies JobType;

function parseRequestLine(input: Record<string, unknown>): ProviderRequest {
  const line = requireLineObject(input);
  const customId = requireItemId(line.custom_id, 'custom_id');
  if (line.method !== 'POST') {
    const got = line.method === undefined ? 'is missing' : `${JSON.stringify(line.method)} is not supported`;
    throw new ValidationError(`method ${got}; use "POST"`, 'method');
  }
  const url = parseUrl(line.url);
  const body = requireObject(line.body, 'body');
  // Whether a missing model is fine depends on the job's default model: see toRequest.
  if (body.model !== undefined) requireString(body.model, 'body.model');
  return { custom_id: customId, method: 'POST', url, body };
}

function parseUrl(url: unknown): SupportedUrl {
  const expected = `use one of ${SUPPORTED_URLS.join(', ')}`;
  if (url === undefined) throw new ValidationError(`is required; ${expected}`, 'url');
  if (typeof url !== 'string') throw new ValidationError(`must be a string, got ${kindOf(url)}; ${expected}`, 'url');
  if (!isSupportedUrl(url)) throw new ValidationError(`url "${url}" is not supported; ${expected}`, 'url');
  return url;
}

function isSupportedUrl(url: string): url is SupportedUrl {
  return (SUPPORTED_URLS as readonly string[]).includes(url);
}
