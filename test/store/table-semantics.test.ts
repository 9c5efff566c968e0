import { BatchGetCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startTestTable, TEST_STORE, type TestTable } from '../support/dynamo.js';

// DynamoDB's semantics as the store code relies on them, checked on the backend the run uses
// (jest runs this file on dynalite and on the embedded store: see jest.config.js).
let table: TestTable;
beforeAll(async () => {
  table = await startTestTable();
});
afterAll(() => table.close());

const put = (item: Record<string, unknown>) =>
  table.dynamo.send(new PutCommand({ TableName: table.tableName, Item: item }));
const query = (input: Omit<ConstructorParameters<typeof QueryCommand>[0], 'TableName'>) =>
  table.dynamo.send(new QueryCommand({ TableName: table.tableName, ...input }));
const errorName = (promise: Promise<unknown>) =>
  promise.then(
    () => 'no error',
    (error: unknown) => (error as Error).name,
  );

describe(`the job table on ${TEST_STORE}`, () => {
  test('GIVEN sort keys with non-ASCII characters WHEN queried both ways THEN they come in UTF-8 byte order', async () => {
    // Arrange: JavaScript's < would put the emoji (a surrogate pair) before U+E000 and U+FFFD.
    const ids = ['\u{1F600}', 'z', '\uFFFD', 'a', '\u00E9', '\uE000', 'A'];
    for (const id of ids) await put({ pk: 'ORDER', sk: `ITEM#${id}` });

    // Act
    const forward = await query({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'ORDER' } });
    const backward = await query({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'ORDER' },
      ScanIndexForward: false,
    });

    // Assert
    const expected = ['A', 'a', 'z', '\u00E9', '\uE000', '\uFFFD', '\u{1F600}'].map((id) => `ITEM#${id}`);
    expect(forward.Items?.map((item) => String(item.sk))).toEqual(expected);
    expect(backward.Items?.map((item) => String(item.sk))).toEqual([...expected].reverse());
  });

  test('GIVEN five records WHEN paged by two THEN each cursor continues after the last record, the last page has none', async () => {
    // Arrange
    for (const n of [1, 2, 3, 4, 5]) await put({ pk: 'PAGES', sk: `ITEM#${n}`, odd: n % 2 === 1 });

    // Act
    const pages: unknown[][] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await query({
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :item)',
        ExpressionAttributeValues: { ':pk': 'PAGES', ':item': 'ITEM#' },
        Limit: 2,
        ExclusiveStartKey: start,
      });
      pages.push(page.Items?.map((item) => String(item.sk)) ?? []);
      start = page.LastEvaluatedKey;
      if (start) expect(start).toEqual({ pk: 'PAGES', sk: String(page.Items?.at(-1)?.sk) });
    } while (start);
    const filtered = await query({
      KeyConditionExpression: 'pk = :pk',
      FilterExpression: 'odd = :yes',
      ExpressionAttributeValues: { ':pk': 'PAGES', ':yes': true },
      Limit: 2,
    });

    // Assert
    expect(pages).toEqual([['ITEM#1', 'ITEM#2'], ['ITEM#3', 'ITEM#4'], ['ITEM#5']]);
    // The limit counts the records read, before the filter.
    expect(filtered.Items?.map((item) => String(item.sk))).toEqual(['ITEM#1']);
    expect(filtered.LastEvaluatedKey).toEqual({ pk: 'PAGES', sk: 'ITEM#2' });
  });

  test('GIVEN records with and without the index keys WHEN the index is queried THEN only indexed ones come, by index sort key, pageable', async () => {
    // Arrange
    await put({ pk: 'JOB#b', sk: 'JOB', gsi1pk: 'JOBS', gsi1sk: '2026-03-02' });
    await put({ pk: 'JOB#a', sk: 'JOB', gsi1pk: 'JOBS', gsi1sk: '2026-03-01' });
    await put({ pk: 'JOB#c', sk: 'JOB' });

    // Act
    const first = await query({
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :jobs',
      ExpressionAttributeValues: { ':jobs': 'JOBS' },
      ScanIndexForward: false,
      Limit: 1,
    });
    const rest = await query({
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :jobs',
      ExpressionAttributeValues: { ':jobs': 'JOBS' },
      ScanIndexForward: false,
      ExclusiveStartKey: first.LastEvaluatedKey,
    });

    // Assert
    expect(first.Items?.map((item) => String(item.pk))).toEqual(['JOB#b']);
    expect(first.LastEvaluatedKey).toEqual({ pk: 'JOB#b', sk: 'JOB', gsi1pk: 'JOBS', gsi1sk: '2026-03-02' });
    expect(rest.Items?.map((item) => String(item.pk))).toEqual(['JOB#a']);
    expect(rest.LastEvaluatedKey).toBeUndefined();
  });

  test('GIVEN a sort key range WHEN queried with BETWEEN and < THEN the bounds are inclusive and exclusive as DynamoDB has them', async () => {
    // Arrange
    for (const n of [1, 2, 3, 4]) await put({ pk: 'RANGE', sk: `T#${n}` });

    // Act
    const between = await query({
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
      ExpressionAttributeValues: { ':pk': 'RANGE', ':low': 'T#2', ':high': 'T#3' },
    });
    const below = await query({
      KeyConditionExpression: 'pk = :pk AND sk < :high',
      ExpressionAttributeValues: { ':pk': 'RANGE', ':high': 'T#2' },
    });

    // Assert
    expect(between.Items?.map((item) => String(item.sk))).toEqual(['T#2', 'T#3']);
    expect(below.Items?.map((item) => String(item.sk))).toEqual(['T#1']);
  });

  test('GIVEN a record WHEN updated with if_not_exists, arithmetic, list_append, REMOVE and ADD THEN ALL_NEW and UPDATED_NEW show DynamoDB results', async () => {
    // Arrange
    await put({ pk: 'UPD', sk: 'R', count: 5, tags: ['a'], gone: 'x', price: 0.1 });

    // Act
    const updated = await table.dynamo.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: { pk: 'UPD', sk: 'R' },
        UpdateExpression:
          'SET #count = #count - :one, started = if_not_exists(started, :now), tags = list_append(tags, :more), price = price + :cents REMOVE gone ADD visits :one',
        ConditionExpression:
          'attribute_exists(pk) AND (#count > :one OR size(tags) IN (:one, :two)) AND NOT begins_with(gone, :y)',
        ExpressionAttributeNames: { '#count': 'count' },
        ExpressionAttributeValues: { ':one': 1, ':two': 2, ':now': 'T0', ':more': ['b'], ':cents': 0.2, ':y': 'y' },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const again = await table.dynamo.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: { pk: 'UPD', sk: 'R' },
        UpdateExpression: 'SET started = if_not_exists(started, :now) ADD visits :one',
        ExpressionAttributeValues: { ':one': 1, ':now': 'T1' },
        ReturnValues: 'UPDATED_NEW',
      }),
    );

    // Assert
    expect(updated.Attributes).toEqual({
      pk: 'UPD',
      sk: 'R',
      count: 4,
      tags: ['a', 'b'],
      price: 0.3,
      started: 'T0',
      visits: 1,
    });
    expect(again.Attributes).toEqual({ started: 'T0', visits: 2 });
  });

  test('GIVEN a failing condition, unused or missing placeholders, a key update or a reserved word WHEN written THEN DynamoDB error names come back and nothing changes', async () => {
    // Arrange
    await put({ pk: 'ERR', sk: 'R', status: 'DONE' });
    const update = (input: Partial<ConstructorParameters<typeof UpdateCommand>[0]>) =>
      errorName(
        table.dynamo.send(
          new UpdateCommand({
            TableName: table.tableName,
            Key: { pk: 'ERR', sk: 'R' },
            UpdateExpression: 'SET a = :a',
            ...input,
          }),
        ),
      );

    // Act
    const names = {
      failed: await update({
        ConditionExpression: '#s IN (:q, :r)',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':a': 1, ':q': 'QUEUED', ':r': 'RUNNING' },
      }),
      unused: await update({ ExpressionAttributeValues: { ':a': 1, ':b': 2 } }),
      missing: await update({ ExpressionAttributeValues: { ':b': 2 }, UpdateExpression: 'SET a = :a, b = :b' }),
      key: await update({ UpdateExpression: 'SET sk = :a', ExpressionAttributeValues: { ':a': 'S' } }),
      overlap: await update({ UpdateExpression: 'SET a = :a REMOVE a', ExpressionAttributeValues: { ':a': 1 } }),
      reserved: await update({ UpdateExpression: 'SET output = :a', ExpressionAttributeValues: { ':a': 1 } }),
    };
    const { Item } = await table.dynamo.send(
      new GetCommand({ TableName: table.tableName, Key: { pk: 'ERR', sk: 'R' } }),
    );

    // Assert
    expect(names).toEqual({
      failed: 'ConditionalCheckFailedException',
      unused: 'ValidationException',
      missing: 'ValidationException',
      key: 'ValidationException',
      overlap: 'ValidationException',
      reserved: 'ValidationException',
    });
    expect(Item).toEqual({ pk: 'ERR', sk: 'R', status: 'DONE' });
  });

  test('GIVEN records WHEN read in a batch with a projection THEN the found ones come with the projected attributes only', async () => {
    // Arrange
    await put({ pk: 'BATCH', sk: '1', status: 'DONE', output: { text: 'long' } });
    await put({ pk: 'BATCH', sk: '2', status: 'QUEUED' });

    // Act
    const { Responses } = await table.dynamo.send(
      new BatchGetCommand({
        RequestItems: {
          [table.tableName]: {
            Keys: ['1', '2', '3'].map((sk) => ({ pk: 'BATCH', sk })),
            ProjectionExpression: 'sk, #s, #o.#t',
            ExpressionAttributeNames: { '#s': 'status', '#o': 'output', '#t': 'text' },
          },
        },
      }),
    );

    // Assert
    const found = Responses?.[table.tableName] ?? [];
    expect(found.sort((a, b) => String(a.sk).localeCompare(String(b.sk)))).toEqual([
      { sk: '1', status: 'DONE', output: { text: 'long' } },
      { sk: '2', status: 'QUEUED' },
    ]);
  });
});
