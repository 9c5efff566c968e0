import { ConditionalCheckFailedException, type AttributeValue } from '@aws-sdk/client-dynamodb';
// The document client converts results but not the record a failed condition returns: convert it the same way.
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { fromStored } from './store-table.js';
import { TABLE_KEY } from './table-schema.js';

/**
 * A named piece of a ConditionExpression with the attribute names and values it uses (DynamoDB
 * rejects names and values an expression does not use, so each fragment carries only its own).
 */
export interface Condition {
  readonly expression: string;
  readonly names?: Readonly<Record<string, string>>;
  readonly values?: Readonly<Record<string, unknown>>;
}

export const RECORD_ABSENT: Condition = { expression: `attribute_not_exists(${TABLE_KEY.partition})` };
export const RECORD_EXISTS: Condition = { expression: `attribute_exists(${TABLE_KEY.partition})` };

export function allOf(...parts: Condition[]): Condition {
  return { expression: parts.map((part) => part.expression).join(' AND '), ...placeholders(parts) };
}

/** Parenthesised, so it reads the same inside allOf. */
export function anyOf(...parts: Condition[]): Condition {
  const expressions = parts.map((part) =>
    part.expression.includes(' AND ') ? `(${part.expression})` : part.expression,
  );
  return { expression: `(${expressions.join(' OR ')})`, ...placeholders(parts) };
}

/** The command fields of a condition together with the update's own names and values. */
export function conditionFields(
  condition: Condition,
  update: { names?: Record<string, string>; values?: Record<string, unknown> } = {},
): {
  ConditionExpression: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
} {
  const { names, values } = placeholders([condition, update]);
  return {
    ConditionExpression: condition.expression,
    ...(names && { ExpressionAttributeNames: names }),
    ...(values && { ExpressionAttributeValues: values }),
  };
}

type Placeholders = Pick<Condition, 'names' | 'values'>;

/**
 * The names and values of all parts; a placeholder given twice must mean the same (two fragments both using `:queued`,
 * say).
 */
function placeholders(parts: Placeholders[]): { names?: Record<string, string>; values?: Record<string, unknown> } {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  for (const part of parts) {
    join(names, part.names);
    join(values, part.values);
  }
  return {
    ...(Object.keys(names).length > 0 && { names }),
    ...(Object.keys(values).length > 0 && { values }),
  };
}

function join<V>(into: Record<string, V>, from: Readonly<Record<string, V>> | undefined): void {
  for (const [placeholder, value] of Object.entries(from ?? {})) {
    if (placeholder in into && JSON.stringify(into[placeholder]) !== JSON.stringify(value)) {
      throw new Error(`expression placeholder ${placeholder} is given two values`);
    }
    into[placeholder] = value;
  }
}

/** Asks DynamoDB to return the record a failed condition met, instead of a read after the failure. */
export const RETURN_RECORD_ON_FAILURE = { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } as const;

/** What a conditional write whose condition failed hands back: the record it met, when asked for. */
export class ConditionNotMet {
  constructor(
    /** The ConditionalCheckFailedException itself. */
    readonly error: Error,
    private readonly met: Record<string, AttributeValue> | undefined,
  ) {}

  /**
   * The record the condition met. DynamoDB returns it with the failure (RETURN_RECORD_ON_FAILURE);
   * dynalite (the local and test table) never does, so a failure without it falls back to
   * `readBack`. On DynamoDB that read happens only when there was no record to return.
   */
  async record<T>(readBack: () => Promise<T | undefined>): Promise<T | undefined> {
    return this.met ? fromStored<T>(unmarshall(this.met)) : readBack();
  }
}

/** Runs a conditional write: its output, or ConditionNotMet when its condition failed. Any other error is thrown. */
export async function tryConditional<T>(write: Promise<T>): Promise<T | ConditionNotMet> {
  try {
    return await write;
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    return new ConditionNotMet(error, (error as { Item?: Record<string, AttributeValue> }).Item);
  }
}

/** By class, or by name for an error from another copy of the SDK. */
export function isConditionFailure(error: unknown): error is Error {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof Error && error.name === 'ConditionalCheckFailedException')
  );
}
