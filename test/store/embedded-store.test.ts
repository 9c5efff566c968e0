import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedDynamo, type EmbeddedDynamo } from '../../local/services/embedded-dynamo/client.js';
import { storeKindFor } from '../../local/services/local-table.js';
import {
  RECORD_EXISTS,
  RETURN_RECORD_ON_FAILURE,
  conditionFields,
  tryConditional,
} from '../../shared/store/conditions.js';

const TABLE = 'embedded-test';
const opened: EmbeddedDynamo[] = [];
const folders: string[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function open(dataDir?: string): EmbeddedDynamo {
  const store = openEmbeddedDynamo({ tableName: TABLE, ...(dataDir !== undefined && { dataDir }) });
  opened.push(store);
  return store;
}

function folder(): string {
  const made = mkdtempSync(join(tmpdir(), 'embedded-store-test-'));
  folders.push(made);
  return made;
}

describe('the embedded store (what dynalite cannot show)', () => {
  test('GIVEN a record WHEN a condition fails with ReturnValuesOnConditionCheckFailure THEN the error carries the record as DynamoDB returns it', async () => {
    // Arrange
    const { client } = open();
    await client.send(new PutCommand({ TableName: TABLE, Item: { pk: 'JOB#1', sk: 'ITEM#a', status: 'DONE', n: 2 } }));

    // Act
    const outcome = await tryConditional(
      client.send(
        new UpdateCommand({
          TableName: TABLE,
          Key: { pk: 'JOB#1', sk: 'ITEM#a' },
          UpdateExpression: 'SET #status = :queued',
          ...conditionFields(
            { expression: '#status = :queued', names: { '#status': 'status' }, values: { ':queued': 'QUEUED' } },
            {},
          ),
          ...RETURN_RECORD_ON_FAILURE,
        }),
      ),
    );

    // Assert
    if (!('record' in outcome)) throw new Error('the condition should have failed');
    expect(outcome.error.name).toBe('ConditionalCheckFailedException');
    expect((outcome.error as unknown as { Item: unknown }).Item).toEqual({
      pk: { S: 'JOB#1' },
      sk: { S: 'ITEM#a' },
      status: { S: 'DONE' },
      n: { N: '2' },
    });
    // The store code's own reading of it: the record, without its placement attributes, and no read back.
    expect(await outcome.record(() => Promise.reject(new Error('no read back expected')))).toEqual({
      status: 'DONE',
      n: 2,
    });
  });

  test('GIVEN no record WHEN a condition on its existence fails THEN the error carries no record', async () => {
    // Arrange
    const { client } = open();

    // Act
    const outcome = await tryConditional(
      client.send(
        new UpdateCommand({
          TableName: TABLE,
          Key: { pk: 'JOB#1', sk: 'ITEM#none' },
          UpdateExpression: 'SET a = :a',
          ...conditionFields(RECORD_EXISTS, { values: { ':a': 1 } }),
          ...RETURN_RECORD_ON_FAILURE,
        }),
      ),
    );

    // Assert
    expect((outcome as { error?: { Item?: unknown } }).error?.Item).toBeUndefined();
  });

  test('GIVEN a data dir WHEN the store is closed and opened again THEN its records are there', async () => {
    // Arrange
    const dataDir = folder();
    const first = open(dataDir);
    await first.client.send(new PutCommand({ TableName: TABLE, Item: { pk: 'JOB#1', sk: 'JOB', total: 3 } }));
    await first.close();

    // Act
    const second = open(dataDir);
    const { Item } = await second.client.send(new GetCommand({ TableName: TABLE, Key: { pk: 'JOB#1', sk: 'JOB' } }));

    // Assert
    expect(Item).toEqual({ pk: 'JOB#1', sk: 'JOB', total: 3 });
  });

  test('GIVEN no data dir WHEN the store is closed THEN its temporary file is gone, and later calls fail', async () => {
    // Arrange
    const store = open();
    expect(existsSync(store.file)).toBe(true);

    // Act
    await store.close();

    // Assert
    expect(existsSync(store.file)).toBe(false);
    await expect(store.client.send(new GetCommand({ TableName: TABLE, Key: { pk: 'a', sk: 'b' } }))).rejects.toThrow(
      /closed/,
    );
  });

  test('GIVEN the temporary store of a process that was killed WHEN a store opens THEN the orphan is removed', () => {
    // Arrange
    const { pid } = spawnSync(process.execPath, ['-e', '']);
    const orphan = mkdtempSync(join(tmpdir(), `llm-batch-store-${pid}-`));
    folders.push(orphan);

    // Act
    open();

    // Assert
    expect(existsSync(orphan)).toBe(false);
  });

  test('GIVEN a middleware added as to an SDK client WHEN commands are sent THEN it sees each by name, around its output', async () => {
    // Arrange
    const { client } = open();
    const seen: string[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        seen.push(`${context.commandName}:${JSON.stringify((result.output as { Item?: unknown }).Item ?? null)}`);
        return result;
      },
      { step: 'initialize', name: 'counter' },
    );

    // Act
    await client.send(new PutCommand({ TableName: TABLE, Item: { pk: 'a', sk: 'b' } }));
    await client.send(new GetCommand({ TableName: TABLE, Key: { pk: 'a', sk: 'b' } }));

    // Assert
    expect(seen).toEqual(['PutCommand:null', 'GetCommand:{"pk":"a","sk":"b"}']);
  });

  test('GIVEN a data dir dynalite wrote WHEN the local store is chosen THEN dynalite keeps it; any other gets the embedded store', () => {
    // Arrange
    const older = folder();
    mkdirSync(join(older, 'dynamodb'));

    // Act
    const kinds = {
      older: storeKindFor(older, undefined),
      fresh: storeKindFor(folder(), undefined),
      none: storeKindFor(undefined, undefined),
      asked: storeKindFor(undefined, 'dynalite'),
    };

    // Assert
    expect(kinds).toEqual({ older: 'dynalite', fresh: 'embedded', none: 'embedded', asked: 'dynalite' });
  });
});
