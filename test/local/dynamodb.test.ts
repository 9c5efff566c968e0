import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  DEFLATE_FROM_BYTES,
  memoizeParse,
  ownBuffer,
  UNPOOLED_JSON,
  UNPOOLED_UTF8,
} from '../../local/services/dynamodb-worker.js';
import { LOCAL_CREDENTIALS, startLocalDynamo, type LocalDynamo } from '../../local/services/dynamodb.js';

const TABLE = 'dynamo-test';

describe('the local DynamoDB (dynalite in a worker thread)', () => {
  let dynamo: LocalDynamo;
  let local: DynamoDBDocumentClient;

  beforeAll(async () => {
    dynamo = await startLocalDynamo({ tableName: TABLE });
    local = DynamoDBDocumentClient.from(dynamo.client());
  });
  afterAll(async () => {
    local.destroy();
    await dynamo.close();
  });

  test('in-process clients get DynamoDB semantics: conditions, ADD counters, BatchGet, Query in key order', async () => {
    // Arrange
    await local.send(new PutCommand({ TableName: TABLE, Item: { pk: 'job#1', sk: 'job', counts: { done: 0 } } }));
    await Promise.all(
      ['b', 'c', 'a'].map((id) =>
        local.send(new PutCommand({ TableName: TABLE, Item: { pk: 'job#1', sk: `item#${id}`, status: 'QUEUED' } })),
      ),
    );

    // Act
    await Promise.all(
      Array.from({ length: 40 }, () =>
        local.send(
          new UpdateCommand({
            TableName: TABLE,
            Key: { pk: 'job#1', sk: 'job' },
            UpdateExpression: 'ADD counts.done :one',
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeValues: { ':one': 1 },
          }),
        ),
      ),
    );
    const duplicate = await local
      .send(
        new PutCommand({
          TableName: TABLE,
          Item: { pk: 'job#1', sk: 'item#a' },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      )
      .catch((error: unknown) => error);
    const job = await local.send(
      new GetCommand({ TableName: TABLE, Key: { pk: 'job#1', sk: 'job' }, ConsistentRead: true }),
    );
    const batch = await local.send(
      new BatchGetCommand({
        RequestItems: { [TABLE]: { Keys: ['a', 'b', 'missing'].map((id) => ({ pk: 'job#1', sk: `item#${id}` })) } },
      }),
    );
    const page = await local.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :item)',
        ExpressionAttributeValues: { ':pk': 'job#1', ':item': 'item#' },
      }),
    );

    // Assert
    expect(duplicate).toBeInstanceOf(ConditionalCheckFailedException);
    expect(job.Item?.counts).toEqual({ done: 40 });
    expect(batch.Responses?.[TABLE]?.map((item) => item.sk as string).sort()).toEqual(['item#a', 'item#b']);
    expect(page.Items?.map((item) => item.sk as string)).toEqual(['item#a', 'item#b', 'item#c']);
  });

  test('the HTTP endpoint serves the same store to an ordinary signed client', async () => {
    // Arrange
    const remote = DynamoDBDocumentClient.from(
      new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS }),
    );
    try {
      // Act
      await remote.send(new PutCommand({ TableName: TABLE, Item: { pk: 'job#2', sk: 'job', by: 'http' } }));
      const seen = await local.send(
        new GetCommand({ TableName: TABLE, Key: { pk: 'job#2', sk: 'job' }, ConsistentRead: true }),
      );

      // Assert
      expect(seen.Item).toEqual({ pk: 'job#2', sk: 'job', by: 'http' });
    } finally {
      remote.destroy();
    }
  });

  test('destroying one client leaves the shared handler open for the others', async () => {
    // Arrange
    const other = DynamoDBDocumentClient.from(dynamo.client());

    // Act
    other.destroy();
    const still = await local.send(new GetCommand({ TableName: TABLE, Key: { pk: 'job#2', sk: 'job' } }));

    // Assert
    expect(still.Item?.by).toBe('http');
  });
});

test('after close, calls fail with a clear error instead of hanging', async () => {
  // Arrange
  const dynamo = await startLocalDynamo({ tableName: TABLE });
  const client = DynamoDBDocumentClient.from(dynamo.client({ maxAttempts: 1 }));

  // Act
  await dynamo.close();
  const late = client.send(new GetCommand({ TableName: TABLE, Key: { pk: 'x', sk: 'y' } }));

  // Assert
  await expect(late).rejects.toThrow('the local DynamoDB has been closed');
});

test('stored keys and values own their memory (no slice of the shared 64 KiB Buffer pool); large values are kept deflated', () => {
  // Arrange
  const pooled = Buffer.from('a small string');
  const small = { status: { S: 'QUEUED' } };
  const large = { output: { S: 'mock answer '.repeat(200) }, n: { N: '1' } };

  // Act
  const key = UNPOOLED_UTF8.encode('item-llm-batch-local~job#1/item#a/');
  const storedSmall = UNPOOLED_JSON.encode(small);
  const storedLarge = UNPOOLED_JSON.encode(large);

  // Assert
  expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.byteLength); // what the encodings avoid
  for (const stored of [key, storedSmall, storedLarge, ownBuffer('x')])
    expect(stored.buffer.byteLength).toBe(stored.byteLength);
  expect(UNPOOLED_UTF8.decode(key)).toBe('item-llm-batch-local~job#1/item#a/');
  expect(UNPOOLED_JSON.decode(storedSmall)).toEqual(small);
  expect(UNPOOLED_JSON.decode(storedLarge)).toEqual(large);
  expect(storedSmall.byteLength).toBe(JSON.stringify(small).length + 1);
  expect(JSON.stringify(large).length).toBeGreaterThan(DEFLATE_FROM_BYTES);
  expect(storedLarge.byteLength).toBeLessThan(JSON.stringify(large).length / 4);
});

describe("memoized expression parsing gives dynalite's own parse, with each request's values", () => {
  const fromDynalite = createRequire(createRequire(import.meta.url).resolve('dynalite'));
  const validations = fromDynalite('./validations/index.js') as {
    validateExpressions(data: Record<string, unknown>): string | undefined;
  };
  const parsers = ['updateParser', 'conditionParser', 'projectionParser'].map(
    (name) => fromDynalite(`./db/${name}`) as ExpressionParserModule,
  );
  type Values = Record<string, Record<string, unknown>>;
  type Request = {
    UpdateExpression?: string;
    ConditionExpression?: string;
    KeyConditionExpression?: string;
    ProjectionExpression?: string;
    ExpressionAttributeNames?: Record<string, string>;
    ExpressionAttributeValues?: Values;
  };

  /** dynalite's validation of a request's expressions: its message, and the parse trees it leaves on the request. */
  function validate(request: Request) {
    const data: Record<string, unknown> = structuredClone(request);
    let message: string | undefined;
    try {
      message = validations.validateExpressions(data);
    } catch (error) {
      message = `thrown: ${(error as Error).message}`;
    }
    return {
      message,
      updates: data._updates,
      condition: data._condition,
      keyCondition: data._keyCondition,
      projection: data._projection,
    };
  }

  /** Memoized parsers (as the worker runs dynalite), and how often they called the real one. */
  function memoized() {
    const originals = parsers.map((parser) => parser.parse.bind(parser));
    let parses = 0;
    const counted = originals.map((parse) => (input: string, options: { context: Record<string, unknown> }) => {
      parses++;
      return parse(input, options);
    });
    const memos = counted.map((parse) => memoizeParse(parse));
    return {
      get parses() {
        return parses;
      },
      run<T>(run: () => T): T {
        parsers.forEach((parser, i) => (parser.parse = memos[i] as ExpressionParserModule['parse']));
        try {
          return run();
        } finally {
          parsers.forEach((parser, i) => (parser.parse = originals[i] as ExpressionParserModule['parse']));
        }
      },
    };
  }

  const cases: [string, (n: number) => Request][] = [
    [
      'claim an item',
      (n) => ({
        UpdateExpression: 'SET leaseUntil = :lease, updatedAt = :at ADD attempts :one',
        ConditionExpression: '#status = :queued AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':lease': { N: String(1000 + n) },
          ':queued': { S: 'QUEUED' },
          ':now': { N: String(n) },
          ':one': { N: '1' },
          ':at': { S: `t${n}` },
        },
      }),
    ],
    [
      'add to the job',
      (n) => ({
        UpdateExpression: 'ADD counts.succeeded :by, #usage.inputTokens :in SET updatedAt = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#usage': 'usage' },
        ExpressionAttributeValues: { ':by': { N: '1' }, ':in': { N: String(n) }, ':now': { S: `t${n}` } },
      }),
    ],
    [
      'finish an item',
      (n) => ({
        UpdateExpression: 'SET #status = :status, #output = :output REMOVE leaseUntil',
        ConditionExpression: '#status IN (:queued, :submitted)',
        ExpressionAttributeNames: { '#status': 'status', '#output': 'output' },
        ExpressionAttributeValues: {
          ':status': { S: 'SUCCEEDED' },
          ':queued': { S: 'QUEUED' },
          ':submitted': { S: 'SUBMITTED' },
          ':output': { M: { text: { S: `answer ${n}` }, list: { L: [{ N: String(n) }] } } },
        },
      }),
    ],
    [
      'query items',
      (n) => ({
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ProjectionExpression: 'sk, #status',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':pk': { S: `job#${n}` }, ':prefix': { S: 'item#' } },
      }),
    ],
    // Errors are never kept: each call reports them as dynalite does.
    [
      'an undefined name',
      () => ({
        UpdateExpression: 'SET #missing = :v',
        ExpressionAttributeNames: { '#other': 'x' },
        ExpressionAttributeValues: { ':v': { S: 'x' } },
      }),
    ],
    [
      'an unused value',
      (n) => ({
        UpdateExpression: 'SET a = :v',
        ExpressionAttributeValues: { ':v': { S: `x${n}` }, ':spare': { N: '1' } },
      }),
    ],
    [
      'overlapping paths',
      () => ({
        UpdateExpression: 'SET a = :v ADD a :one',
        ExpressionAttributeValues: { ':v': { N: '1' }, ':one': { N: '1' } },
      }),
    ],
    [
      'a reserved word',
      () => ({ ConditionExpression: 'status = :v', ExpressionAttributeValues: { ':v': { S: 'x' } } }),
    ],
    [
      'a wrong operand type',
      () => ({ UpdateExpression: 'ADD a :s', ExpressionAttributeValues: { ':s': { S: 'not a number' } } }),
    ],
    [
      'BETWEEN bounds read values',
      (n) => ({
        ConditionExpression: 'a BETWEEN :lo AND :hi',
        ExpressionAttributeValues: { ':lo': { N: String(n) }, ':hi': { N: '2' } },
      }),
    ],
    ['a syntax error', () => ({ ConditionExpression: 'a = = b' })],
  ];

  test.each(cases)('%s', (_name, request) => {
    // Arrange
    const memo = memoized();

    for (const n of [1, 2, 3, 4]) {
      // Act
      const expected = validate(request(n));
      const actual = memo.run(() => validate(request(n)));

      // Assert: the same message and the same trees, prototypes included
      expect(actual).toStrictEqual(expected);
    }
  });

  test('the valid expressions are parsed by the parser twice (the request, the template), then never again', () => {
    // Arrange
    const memo = memoized();
    const valid = cases.slice(0, 4).map(([, request]) => request);

    // Act
    for (const n of [1, 2, 3, 4]) memo.run(() => valid.forEach((request) => validate(request(n))));

    // Assert: eight expressions in the four requests
    expect(memo.parses).toBe(2 * 8);
  });

  test("a remembered tree carries this request's value objects and is a fresh copy", () => {
    // Arrange
    const update = parsers[0] as ExpressionParserModule;
    const memoized = memoizeParse(update.parse.bind(update));
    const context = (values: Values) => ({
      attrVals: values,
      unusedAttrNames: {},
      unusedAttrVals: { ':at': true },
      isReserved: () => false,
    });
    const first = memoized('SET updatedAt = :at', { context: context({ ':at': { S: 'first' } }) }) as {
      sections: unknown[];
    };
    first.sections.length = 0; // dynalite rewrites trees while applying them

    // Act
    const value = { S: 'second' };
    const second = memoized('SET updatedAt = :at', { context: context({ ':at': value }) }) as {
      sections: { val: unknown }[];
    };

    // Assert
    expect(second.sections).toHaveLength(1);
    expect(second.sections[0]?.val).toBe(value);
  });
});

interface ExpressionParserModule {
  parse(input: string, options: { context: Record<string, unknown> }): unknown;
}
