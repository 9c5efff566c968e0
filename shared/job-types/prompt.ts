import { ValidationError } from '../errors.js';
import type { JobOptions, OutputLine, ProviderRequest } from '../types.js';
import type { CompiledJobType, JobType } from './job-type.js';
import { outputText, successBody } from './output-text.js';
import {
  requireItemId,
  isPlainObject,
  kindOf,
  optionalString,
  paramsOf,
  rejectUnknownKeys,
  requireLineObject,
  requireModel,
  requireString,
} from './validation.js';

export const DEFAULT_PROMPT_TEMPLATE = '{{prompt}}';

/** `{{prompt}}` or `{{vars.name}}`, spaces inside the braces allowed. */
const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const VAR_PLACEHOLDER = /^vars\.([A-Za-z0-9_-]+)$/;

interface PromptParams {
  template: string;
  /** Names of the vars the template uses. */
  varNames: string[];
  instructions?: string;
  maxOutputTokens?: number;
}

interface PromptLine {
  id: string;
  prompt: string;
  vars: Map<string, string>;
}

/**
 * `prompt`: lines {"id", "prompt", "vars"?}; the template (params.template, default
 * "{{prompt}}") is rendered with the line's prompt and vars and sent to /v1/responses with the
 * job's model. Result: the output text.
 */
export const promptJobType = {
  name: 'prompt',
  description:
    'Lines {id, prompt, vars?} rendered through params.template ({{prompt}}, {{vars.name}}) and sent to ' +
    '/v1/responses with the job model; params.instructions and params.maxOutputTokens are optional. Result: the output text.',

  compile(options: JobOptions) {
    const model = requireModel(options, 'prompt');
    const params = parsePromptParams(options);
    return {
      /** Also checks that the line has every var the template uses. */
      toRequest(line: Record<string, unknown>): ProviderRequest {
        const { id, prompt, vars } = parsePromptLine(line);
        for (const name of params.varNames) {
          if (!vars.has(name)) {
            throw new ValidationError(
              `is missing: the template uses {{vars.${name}}}, so every line needs it`,
              `vars.${name}`,
            );
          }
        }
        return {
          custom_id: id,
          method: 'POST',
          url: '/v1/responses',
          body: {
            model,
            input: renderTemplate(params.template, prompt, vars),
            ...(params.instructions !== undefined ? { instructions: params.instructions } : {}),
            ...(params.maxOutputTokens !== undefined ? { max_output_tokens: params.maxOutputTokens } : {}),
          },
        };
      },
      /** The output text; undefined when the response has none (a refusal...). */
      toResult(output: OutputLine): string | undefined {
        return outputText(successBody(output));
      },
    } satisfies CompiledJobType;
  },

  parseLine(line: Record<string, unknown>): { customId: string } {
    return { customId: parsePromptLine(line).id };
  },
} satisfies JobType;

/**
 * Fills in `{{prompt}}` and `{{vars.name}}` in one pass, so a prompt or var that itself contains
 * `{{...}}` is left as it is. The template must have been checked (see parsePromptParams).
 */
export function renderTemplate(template: string, prompt: string, vars: ReadonlyMap<string, string>): string {
  return template.replace(PLACEHOLDER, (_match, name: string) => {
    if (name === 'prompt') return prompt;
    const varName = VAR_PLACEHOLDER.exec(name)?.[1];
    const value = varName === undefined ? undefined : vars.get(varName);
    if (value === undefined)
      throw new ValidationError(`the template uses {{${name}}}, which has no value`, 'params.template');
    return value;
  });
}

function parsePromptParams(options: JobOptions): PromptParams {
  const params = paramsOf(options);
  rejectUnknownKeys(params, ['template', 'instructions', 'maxOutputTokens'], 'params');
  const template = optionalString(params.template, 'params.template') ?? DEFAULT_PROMPT_TEMPLATE;
  const varNames = new Set<string>();
  for (const [, name = ''] of template.matchAll(PLACEHOLDER)) {
    if (name === 'prompt') continue;
    const varName = VAR_PLACEHOLDER.exec(name)?.[1];
    if (varName === undefined) {
      throw new ValidationError(
        `placeholder "{{${name}}}" is not supported; use {{prompt}} or {{vars.<name>}} (letters, digits, _ and -)`,
        'params.template',
      );
    }
    varNames.add(varName);
  }
  const instructions = optionalString(params.instructions, 'params.instructions');
  const maxOutputTokens = optionalPositiveInteger(params.maxOutputTokens, 'params.maxOutputTokens');
  return {
    template,
    varNames: [...varNames],
    ...(instructions !== undefined ? { instructions } : {}),
    ...(maxOutputTokens !== undefined ? { maxOutputTokens } : {}),
  };
}

function optionalPositiveInteger(value: unknown, where: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new ValidationError(`must be a positive integer, got ${JSON.stringify(value)}`, where);
  }
  return value;
}

function parsePromptLine(input: Record<string, unknown>): PromptLine {
  const line = requireLineObject(input);
  const id = requireItemId(line.id, 'id');
  const prompt = requireString(line.prompt, 'prompt');
  // A Map, so var names such as "constructor" or "__proto__" are plain keys.
  const vars = new Map<string, string>();
  if (line.vars !== undefined) {
    if (!isPlainObject(line.vars)) {
      throw new ValidationError(`must be an object of strings, got ${kindOf(line.vars)}`, 'vars');
    }
    for (const [name, value] of Object.entries(line.vars)) {
      if (typeof value !== 'string') {
        throw new ValidationError(`must be a string, got ${kindOf(value)}`, `vars.${name}`);
      }
      vars.set(name, value);
    }
  }
  return { id, prompt, vars };
}
