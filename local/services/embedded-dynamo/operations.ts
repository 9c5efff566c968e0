/**
 * DynamoDB's item operations (GetItem, PutItem, UpdateItem, DeleteItem, Query, BatchGetItem) in
 * their document client form (plain values in and out), run synchronously on a SqliteTable: one
 * call is one atomic read-check-write, as a conditional write is on DynamoDB.
 */
import { marshall } from '@aws-sdk/util-dynamodb';
import type {
  BatchGetCommandInput,
  DeleteCommandInput,
  GetCommandInput,
  PutCommandInput,
  QueryCommandInput,
  UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { conditionFailed, resourceNotFound, ValidationException } from './errors.js';
import {
  applyUpdate,
  attributeName,
  matches,
  project,
  valueOf,
  type Doc,
  type Names,
  type Values,
} from './evaluate.js';
import {
  parseCondition,
  parseProjection,
  parseUpdate,
  type Condition,
  type Operand,
  type Parsed,
  type Path,
} from './expressions.js';
import type { SortCondition, SqliteTable } from './sqlite-table.js';

/** DynamoDB's limits: a record's size, and a query page's. */
const MAX_ITEM_BYTES = 400 * 1024;
const MAX_PAGE_BYTES = 1024 * 1024;
const MAX_BATCH_GET_KEYS = 100;

interface ExpressionInput {
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
}

/** Each placeholder the expressions use is given, and each one given is used (DynamoDB refuses either mistake). */
function checkPlaceholders(input: ExpressionInput, parsed: (Parsed<unknown> | undefined)[]): void {
  for (const [field, given, used] of [
    ['ExpressionAttributeNames', input.ExpressionAttributeNames, parsed.flatMap((p) => p?.names ?? [])],
    ['ExpressionAttributeValues', input.ExpressionAttributeValues, parsed.flatMap((p) => p?.values ?? [])],
  ] as const) {
    if (given === undefined) {
      if (used.length > 0) valueOrName(field, used[0] as string);
      continue;
    }
    const keys = Object.keys(given).filter((key) => given[key] !== undefined);
    if (keys.length === 0) throw new ValidationException(`${field} must not be empty`);
    const unused = keys.filter((key) => !used.includes(key));
    if (unused.length > 0)
      throw new ValidationException(`Value provided in ${field} unused in expressions: keys: {${unused.join(', ')}}`);
    for (const key of used) if (given[key] === undefined) valueOrName(field, key);
  }
}

function valueOrName(field: string, key: string): never {
  throw new ValidationException(
    field === 'ExpressionAttributeNames'
      ? `An expression attribute name used in the document path is not defined; attribute name: ${key}`
      : `An expression attribute value used in expression is not defined; attribute value: ${key}`,
  );
}

/** DynamoDB's size of a record (names and values in bytes), computed only for records whose JSON is near the limit. */
function recordBytes(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number') return 1 + Math.ceil(String(value).replace(/[-.]|e.*$/g, '').length / 2);
  if (value === null || typeof value === 'boolean') return 1;
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, inner) => sum + 1 + recordBytes(inner), 0);
  return (
    3 +
    Object.entries(value as Doc).reduce(
      (sum, [name, inner]) => (inner === undefined ? sum : sum + Buffer.byteLength(name) + 1 + recordBytes(inner)),
      0,
    )
  );
}

export class TableOperations {
  constructor(readonly table: SqliteTable) {}

  private checkTable(name: string | undefined): void {
    if (name !== this.table.shape.name) throw resourceNotFound();
  }

  /** The key's two strings, checked against the schema. */
  private keyOf(key: Doc | undefined, what = 'key'): [string, string] {
    const { partition, sort } = this.table.shape.key;
    const pk = key?.[partition];
    const sk = key?.[sort];
    if (what === 'key' && Object.keys(key ?? {}).length !== 2)
      throw new ValidationException('The provided key element does not match the schema');
    for (const [name, value] of [
      [partition, pk],
      [sort, sk],
    ] as const) {
      if (value === undefined)
        throw new ValidationException(
          what === 'key'
            ? 'The provided key element does not match the schema'
            : `One or more parameter values were invalid: Missing the key ${name} in the item`,
        );
      if (typeof value !== 'string')
        throw new ValidationException('The provided key element does not match the schema');
      if (value === '')
        throw new ValidationException(
          `One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: ${name}`,
        );
    }
    return [pk as string, sk as string];
  }

  private read(pk: string, sk: string): Doc | undefined {
    const text = this.table.get(pk, sk);
    return text === undefined ? undefined : (JSON.parse(text) as Doc);
  }

  private store(item: Doc): string {
    const doc = JSON.stringify(item);
    if (doc.length > MAX_ITEM_BYTES && recordBytes(item) > MAX_ITEM_BYTES)
      throw new ValidationException('Item size has exceeded the maximum allowed size');
    this.table.put(item, doc);
    return doc;
  }

  /** Checks the write's condition on the record it meets; a failure carries that record when asked for. */
  private checkCondition(
    condition: Parsed<Condition> | undefined,
    input: ExpressionInput & { ReturnValuesOnConditionCheckFailure?: string },
    old: Doc | undefined,
  ): void {
    if (!condition || matches(condition.tree, old, input.ExpressionAttributeNames, input.ExpressionAttributeValues))
      return;
    const returnOld = input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && old !== undefined;
    throw conditionFailed(returnOld ? marshall(old, { removeUndefinedValues: true }) : undefined);
  }

  get(input: GetCommandInput): { Item?: Doc } {
    this.checkTable(input.TableName);
    const projection = input.ProjectionExpression ? parseProjection(input.ProjectionExpression) : undefined;
    checkPlaceholders(input, [projection]);
    const item = this.read(...this.keyOf(input.Key));
    if (!item) return {};
    return { Item: projection ? project(item, projection.tree, input.ExpressionAttributeNames) : item };
  }

  put(input: PutCommandInput): { Attributes?: Doc } {
    this.checkTable(input.TableName);
    const condition = input.ConditionExpression ? parseCondition(input.ConditionExpression) : undefined;
    checkPlaceholders(input, [condition]);
    const item = input.Item as Doc;
    const old = this.read(...this.keyOf(item, 'item'));
    this.checkCondition(condition, input, old);
    this.store(item);
    return input.ReturnValues === 'ALL_OLD' && old ? { Attributes: old } : {};
  }

  update(input: UpdateCommandInput): { Attributes?: Doc } {
    this.checkTable(input.TableName);
    if (!input.UpdateExpression)
      throw new ValidationException('The embedded store takes UpdateExpression updates only');
    const update = parseUpdate(input.UpdateExpression);
    const condition = input.ConditionExpression ? parseCondition(input.ConditionExpression) : undefined;
    checkPlaceholders(input, [update, condition]);
    const [pk, sk] = this.keyOf(input.Key);
    const text = this.table.get(pk, sk);
    const old = text === undefined ? undefined : (JSON.parse(text) as Doc);
    this.checkCondition(condition, input, old);
    const names = input.ExpressionAttributeNames;
    const next = applyUpdate(update.tree, old, input.Key as Doc, names, input.ExpressionAttributeValues);
    const doc = this.store(next);
    const returns = input.ReturnValues;
    if (returns === undefined || returns === 'NONE') return {};
    const before = text === undefined ? undefined : (JSON.parse(text) as Doc);
    if (returns === 'ALL_OLD') return before ? { Attributes: before } : {};
    if (returns === 'ALL_NEW') return { Attributes: JSON.parse(doc) as Doc };
    const paths = [...update.tree.set, ...update.tree.add].map((entry) => entry.path);
    const updated = returns === 'UPDATED_NEW' ? (JSON.parse(doc) as Doc) : before;
    const attributes = updated ? project(updated, [...paths, ...update.tree.remove], names) : {};
    return Object.keys(attributes).length > 0 ? { Attributes: attributes } : {};
  }

  delete(input: DeleteCommandInput): { Attributes?: Doc } {
    this.checkTable(input.TableName);
    const condition = input.ConditionExpression ? parseCondition(input.ConditionExpression) : undefined;
    checkPlaceholders(input, [condition]);
    const [pk, sk] = this.keyOf(input.Key);
    const old = this.read(pk, sk);
    this.checkCondition(condition, input, old);
    this.table.delete(pk, sk);
    return input.ReturnValues === 'ALL_OLD' && old ? { Attributes: old } : {};
  }

  query(input: QueryCommandInput): {
    Items?: Doc[];
    Count: number;
    ScannedCount: number;
    LastEvaluatedKey?: Doc;
  } {
    this.checkTable(input.TableName);
    if (!input.KeyConditionExpression)
      throw new ValidationException(
        'Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.',
      );
    const keyCondition = parseCondition(input.KeyConditionExpression, 'KeyConditionExpression');
    const filter = input.FilterExpression ? parseCondition(input.FilterExpression, 'FilterExpression') : undefined;
    const projection = input.ProjectionExpression ? parseProjection(input.ProjectionExpression) : undefined;
    checkPlaceholders(input, [keyCondition, filter, projection]);
    const names = input.ExpressionAttributeNames;
    const values = input.ExpressionAttributeValues;
    const keys = input.IndexName === undefined ? this.table.shape.key : this.table.shape.indexes.get(input.IndexName);
    if (!keys) throw new ValidationException(`The table does not have the specified index: ${input.IndexName}`);
    if (input.IndexName !== undefined && input.ConsistentRead)
      throw new ValidationException('Consistent reads are not supported on global secondary indexes');
    const { partition, sort } = keyConditionOf(keyCondition.tree, keys, names, values);
    if (input.ExclusiveStartKey)
      this.checkStartKey(input.ExclusiveStartKey, input.IndexName, keys.partition, partition);
    if (input.Limit !== undefined && input.Limit < 1)
      throw new ValidationException('Limit must be greater than or equal to 1');
    const rows = this.table.range({
      ...(input.IndexName !== undefined && { index: input.IndexName }),
      partition,
      ...(sort && { sort }),
      forward: input.ScanIndexForward !== false,
      ...(input.ExclusiveStartKey && { after: input.ExclusiveStartKey }),
      ...(input.Limit !== undefined && { limit: input.Limit }),
    });
    const items: Doc[] = [];
    let scanned = 0;
    let bytes = 0;
    let last: Doc | undefined;
    for (const row of rows) {
      scanned++;
      bytes += row.doc.length;
      const item = JSON.parse(row.doc) as Doc;
      last = item;
      if (!filter || matches(filter.tree, item, names, values))
        items.push(projection ? project(item, projection.tree, names) : item);
      if (scanned === input.Limit || bytes >= MAX_PAGE_BYTES) break;
    }
    const full = last !== undefined && (scanned === input.Limit || bytes >= MAX_PAGE_BYTES);
    const counting = input.Select === 'COUNT';
    return {
      ...(!counting && { Items: items }),
      Count: items.length,
      ScannedCount: scanned,
      ...(full && last && { LastEvaluatedKey: this.startKeyOf(last, input.IndexName) }),
    };
  }

  /** DynamoDB takes back only a key of the shape it returns, from the partition queried. */
  private checkStartKey(start: Doc, index: string | undefined, partitionName: string, partition: string): void {
    const expected = Object.keys(this.startKeyOf(start, index));
    const given = Object.keys(start);
    if (given.length !== expected.length || expected.some((name) => typeof start[name] !== 'string'))
      throw new ValidationException(
        'The provided starting key is invalid: The provided key element does not match the schema',
      );
    if (start[partitionName] !== partition)
      throw new ValidationException(
        'The provided starting key is outside query boundaries based on provided conditions',
      );
  }

  /** LastEvaluatedKey: the table's keys, and on an index its keys too. */
  private startKeyOf(item: Doc, index: string | undefined): Doc {
    const { partition, sort } = this.table.shape.key;
    const key: Doc = { [partition]: item[partition], [sort]: item[sort] };
    const indexKeys = index === undefined ? undefined : this.table.shape.indexes.get(index);
    if (indexKeys)
      Object.assign(key, { [indexKeys.partition]: item[indexKeys.partition], [indexKeys.sort]: item[indexKeys.sort] });
    return key;
  }

  batchGet(input: BatchGetCommandInput): { Responses: Record<string, Doc[]>; UnprocessedKeys: Record<string, never> } {
    const responses: Record<string, Doc[]> = {};
    const requests = Object.entries(input.RequestItems ?? {});
    const total = requests.reduce((sum, [, request]) => sum + (request.Keys?.length ?? 0), 0);
    if (total > MAX_BATCH_GET_KEYS) throw new ValidationException('Too many items requested for the BatchGetItem call');
    for (const [tableName, request] of requests) {
      this.checkTable(tableName);
      const projection = request.ProjectionExpression ? parseProjection(request.ProjectionExpression) : undefined;
      checkPlaceholders(request, [projection]);
      const seen = new Set<string>();
      const found: Doc[] = [];
      for (const key of request.Keys ?? []) {
        const [pk, sk] = this.keyOf(key);
        const id = JSON.stringify([pk, sk]);
        if (seen.has(id)) throw new ValidationException('Provided list of item keys contains duplicates');
        seen.add(id);
        const item = this.read(pk, sk);
        if (item) found.push(projection ? project(item, projection.tree, request.ExpressionAttributeNames) : item);
      }
      responses[tableName] = found;
    }
    return { Responses: responses, UnprocessedKeys: {} };
  }
}

type KeyNames = { partition: string; sort: string };

/** A key condition as the partition key's value and an optional sort key condition (DynamoDB's only allowed shape). */
function keyConditionOf(
  tree: Condition,
  keys: KeyNames,
  names: Names,
  values: Values,
): { partition: string; sort?: SortCondition } {
  const parts = tree.kind === 'and' ? [tree.left, tree.right] : [tree];
  let partition: string | undefined;
  let sort: SortCondition | undefined;
  const keyName = (path: Path | undefined) =>
    path?.length === 1 ? attributeName(path[0] as Path[number], names) : undefined;
  const stringValue = (operand: Operand) => {
    const value = operand.kind === 'value' ? valueOf(operand.ref, values) : undefined;
    if (typeof value !== 'string')
      throw new ValidationException(
        'One or more parameter values were invalid: Condition parameter type does not match schema type',
      );
    return value;
  };
  for (const part of parts) {
    if (part.kind === 'compare' && part.left.kind === 'path') {
      const name = keyName(part.left.path);
      if (name === keys.partition && part.op === '=') partition = stringValue(part.right);
      else if (name === keys.sort && part.op !== '<>') sort = { op: part.op, value: stringValue(part.right) };
      else throw invalidKeyCondition(keys);
    } else if (part.kind === 'between' && part.operand.kind === 'path' && keyName(part.operand.path) === keys.sort) {
      sort = { op: 'between', low: stringValue(part.low), high: stringValue(part.high) };
    } else if (
      part.kind === 'function' &&
      part.name === 'begins_with' &&
      part.args[0]?.kind === 'path' &&
      keyName(part.args[0].path) === keys.sort &&
      part.args[1]
    ) {
      sort = { op: 'begins_with', prefix: stringValue(part.args[1]) };
    } else throw invalidKeyCondition(keys);
  }
  if (partition === undefined)
    throw new ValidationException(`Query condition missed key schema element: ${keys.partition}`);
  return { partition, ...(sort && { sort }) };
}

function invalidKeyCondition(keys: KeyNames): ValidationException {
  return new ValidationException(
    `Invalid KeyConditionExpression: the condition must be ${keys.partition} = :value, optionally AND one condition on ${keys.sort}`,
  );
}
