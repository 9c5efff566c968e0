import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { systemClock } from '../clock.js';
import { ValidationError } from '../errors.js';
import { isConditionFailure } from '../store/conditions.js';
import type { JobOptions, OutputLine, ProviderRequest } from '../types.js';
import type { AppliedItem, ApplyContext, CompiledJobType, JobType } from './job-type.js';
import { outputText, refusalText, successBody } from './output-text.js';
import {
  requireItemId,
  isPlainObject,
  kindOf,
  optionalString,
  paramsOf,
  rejectUnknownKeys,
  requireLineObject,
  requireModel,
  requireObject,
  requireString,
} from './validation.js';

export const MIN_LABELS = 2;
export const MAX_LABELS = 100;

/** Where `apply` writes each item's label: the item whose `keyAttribute` is the item's custom id. */
export interface ClassifyApplyTarget {
  table: string;
  keyAttribute: string;
  labelAttribute: string;
}

export interface ClassifyParams {
  labels: string[];
  instructions?: string;
  apply?: ClassifyApplyTarget;
}

export interface ClassifyResult {
  label: string;
}

/** DynamoDB table names: 3 to 255 of letters, digits, _ . and -. */
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;

/**
 * `classify`: lines {"id", "text"}; each text is classified into exactly one of params.labels
 * with structured output (a JSON schema whose `label` is an enum of the labels). Result:
 * { label }. With params.apply, the label is written onto the entity whose key is the line's id.
 */
export const classifyJobType = {
  name: 'classify',
  description:
    'Lines {id, text} classified into one of params.labels (2 to 100) with structured output on /v1/responses ' +
    'and the job model. Result: {label}. params.apply {table, keyAttribute, labelAttribute} writes the label onto ' +
    'the item keyed by the line id.',

  compile(options: JobOptions) {
    const model = requireModel(options, 'classify');
    const { labels, instructions = defaultInstructions(labels) } = parseClassifyParams(options);
    const format = classificationFormat(labels);
    return {
      toRequest(line: Record<string, unknown>): ProviderRequest {
        const { id, text } = parseClassifyLine(line);
        return {
          custom_id: id,
          method: 'POST',
          url: '/v1/responses',
          body: { model, instructions, input: text, text: { format } },
        };
      },
      /**
       * The label the model chose. Throws ValidationError (where `result` or `result.label`) when the
       * response holds no usable label, so the caller records the item FAILED with that reason.
       */
      toResult(output: OutputLine): ClassifyResult {
        return { label: labelOf(output, labels) };
      },
    } satisfies CompiledJobType;
  },

  parseLine(line: Record<string, unknown>): { customId: string } {
    return { customId: parseClassifyLine(line).id };
  },

  /** With params.apply: SET the label and `<labelAttribute>UpdatedAt` on the entity keyed by the custom id. */
  async apply({ options, dynamo, clock = systemClock }: ApplyContext, item: AppliedItem): Promise<void> {
    const { labels, apply: target } = parseClassifyParams(options);
    if (!target) return;
    const label = requireLabel(isPlainObject(item.result) ? item.result.label : undefined, labels);
    try {
      await dynamo.send(
        new UpdateCommand({
          TableName: target.table,
          Key: { [target.keyAttribute]: item.customId },
          UpdateExpression: 'SET #label = :label, #at = :at',
          // Label existing entities only: an id with no entity must not create a stub item.
          ConditionExpression: 'attribute_exists(#key)',
          ExpressionAttributeNames: {
            '#key': target.keyAttribute,
            '#label': target.labelAttribute,
            '#at': `${target.labelAttribute}UpdatedAt`,
          },
          ExpressionAttributeValues: { ':label': label, ':at': clock.now().toISOString() },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new ValidationError(
          `table ${target.table} has no item with ${target.keyAttribute} "${item.customId}"; the label was not written`,
          'params.apply',
          { cause: error },
        );
      }
      throw error;
    }
  },
} satisfies JobType;

function labelOf(output: OutputLine, labels: readonly string[]): string {
  const body = successBody(output);
  const text = outputText(body);
  if (text === undefined) {
    const refusal = refusalText(body);
    throw new ValidationError(
      refusal !== undefined ? `the model refused: ${refusal}` : 'the response has no output text to read a label from',
      'result',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ValidationError(`the output text is not JSON: ${JSON.stringify(clip(text))}`, 'result');
  }
  if (!isPlainObject(parsed)) throw new ValidationError(`must be a JSON object, got ${kindOf(parsed)}`, 'result');
  return requireLabel(parsed.label, labels);
}

/** The structured-output format that makes the model answer {"label": <one of labels>}. */
export function classificationFormat(labels: readonly string[]): Record<string, unknown> {
  return {
    type: 'json_schema',
    name: 'classification',
    strict: true,
    schema: {
      type: 'object',
      properties: { label: { type: 'string', enum: [...labels] } },
      required: ['label'],
      additionalProperties: false,
    },
  };
}

export function defaultInstructions(labels: readonly string[]): string {
  return (
    'Classify the text you are given into exactly one of these labels: ' +
    `${labels.map((label) => JSON.stringify(label)).join(', ')}. ` +
    'Answer with the label that fits best.'
  );
}

export function parseClassifyParams(options: JobOptions): ClassifyParams {
  const params = paramsOf(options);
  rejectUnknownKeys(params, ['labels', 'instructions', 'apply'], 'params');
  const labels = parseLabels(params.labels);
  const instructions = optionalString(params.instructions, 'params.instructions');
  const apply = params.apply === undefined ? undefined : parseApplyTarget(params.apply);
  return {
    labels,
    ...(instructions !== undefined ? { instructions } : {}),
    ...(apply !== undefined ? { apply } : {}),
  };
}

function parseLabels(value: unknown): string[] {
  const expected = `an array of ${MIN_LABELS} to ${MAX_LABELS} unique non-empty strings`;
  if (value === undefined) throw new ValidationError(`is required: ${expected}`, 'params.labels');
  if (!Array.isArray(value)) throw new ValidationError(`must be ${expected}, got ${kindOf(value)}`, 'params.labels');
  if (value.length < MIN_LABELS || value.length > MAX_LABELS) {
    throw new ValidationError(`has ${value.length} labels; give ${MIN_LABELS} to ${MAX_LABELS}`, 'params.labels');
  }
  const labels: string[] = [];
  value.forEach((label: unknown, index) => {
    const where = `params.labels[${index}]`;
    const checked = requireString(label, where);
    if (labels.includes(checked)) throw new ValidationError(`"${checked}" appears twice; labels must be unique`, where);
    labels.push(checked);
  });
  return labels;
}

function parseApplyTarget(value: unknown): ClassifyApplyTarget {
  const apply = requireObject(value, 'params.apply');
  rejectUnknownKeys(apply, ['table', 'keyAttribute', 'labelAttribute'], 'params.apply');
  const table = requireString(apply.table, 'params.apply.table');
  if (!TABLE_NAME.test(table)) {
    throw new ValidationError(
      `"${table}" is not a DynamoDB table name (3 to 255 letters, digits, _ . or -)`,
      'params.apply.table',
    );
  }
  const keyAttribute = requireString(apply.keyAttribute, 'params.apply.keyAttribute');
  const labelAttribute = requireString(apply.labelAttribute, 'params.apply.labelAttribute');
  if (labelAttribute === keyAttribute || `${labelAttribute}UpdatedAt` === keyAttribute) {
    throw new ValidationError(
      `would overwrite the key attribute "${keyAttribute}"; choose another name`,
      'params.apply.labelAttribute',
    );
  }
  return { table, keyAttribute, labelAttribute };
}

function parseClassifyLine(input: Record<string, unknown>): { id: string; text: string } {
  const line = requireLineObject(input);
  return {
    id: requireItemId(line.id, 'id'),
    text: requireString(line.text, 'text'),
  };
}

function requireLabel(value: unknown, labels: readonly string[]): string {
  if (value === undefined)
    throw new ValidationError(`is missing; expected one of ${labels.join(', ')}`, 'result.label');
  if (typeof value !== 'string') {
    throw new ValidationError(`must be one of the labels, got ${kindOf(value)}`, 'result.label');
  }
  if (!labels.includes(value)) {
    throw new ValidationError(`label "${value}" is not one of ${labels.join(', ')}`, 'result.label');
  }
  return value;
}

function clip(text: string, length = 200): string {
  return text.length > length ? `${text.slice(0, length)}…` : text;
}
