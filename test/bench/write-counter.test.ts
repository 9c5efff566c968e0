import { BatchWriteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, test } from '@jest/globals';
import { PartitionWriteCounter, kindOf } from '../../bench/write-counter.js';

/** A client that answers every command with nothing: what the counter wraps. */
function fakeClient() {
  const sent: unknown[] = [];
  return {
    sent,
    send: (command: unknown) => {
      sent.push(command);
      return Promise.resolve({});
    },
  };
}

describe('the bench counts writes per partition key per simulated second', () => {
  test('GIVEN writes over two seconds WHEN counted THEN each kind reports its busiest key in its busiest second, reads not counted', async () => {
    // Arrange
    let now = 5_000;
    const counter = new PartitionWriteCounter(() => now);
    const client = counter.attach(fakeClient());
    const item = (shard: number, id: string) => ({ pk: `JOB#j#I${shard}`, sk: `ITEM#${id}` });

    // Act: second 5: 3 writes on shard 1, 1 on shard 2, 2 job record updates, a read
    for (const id of ['a', 'b', 'c']) await client.send(new UpdateCommand({ TableName: 't', Key: item(1, id) }));
    await client.send(new PutCommand({ TableName: 't', Item: { ...item(2, 'd'), status: 'QUEUED' } }));
    await client.send(new UpdateCommand({ TableName: 't', Key: { pk: 'JOB#j', sk: 'JOB' } }));
    await client.send(new UpdateCommand({ TableName: 't', Key: { pk: 'JOB#j', sk: 'JOB' } }));
    await client.send(new GetCommand({ TableName: 't', Key: item(1, 'a') }));
    // second 6: a batch write of 4 items on shard 2, one log entry on the job's key
    now = 6_200;
    await client.send(
      new BatchWriteCommand({
        RequestItems: { t: ['e', 'f', 'g', 'h'].map((id) => ({ PutRequest: { Item: item(2, id) } })) },
      }),
    );
    await client.send(new PutCommand({ TableName: 't', Item: { pk: 'JOB#j', sk: 'LOG#x#1' } }));
    const peaks = counter.peaks();

    // Assert
    expect(peaks.byKind.items).toEqual({ peak: 4, key: 'JOB#j#I2', second: 6, total: 8 });
    expect(peaks.byKind['job record']).toEqual({ peak: 2, key: 'JOB#j', second: 5, total: 2 });
    expect(peaks.byKind.log).toMatchObject({ peak: 1, total: 1 });
    expect(peaks.partition).toEqual({ peak: 4, key: 'JOB#j#I2', second: 6, total: 11 });
    expect(client.sent).toHaveLength(9);
  });

  test('GIVEN the keys the store and the rate limit write THEN each has its kind', () => {
    expect(kindOf({ pk: 'JOB#j', sk: 'ITEM#a' })).toBe('items'); // a job recorded before shards
    expect(kindOf({ pk: 'JOB#j#I3', sk: 'ITEM#a' })).toBe('items');
    expect(kindOf({ pk: 'JOB#j', sk: 'BATCH#batch-0000000' })).toBe('batch');
    expect(kindOf({ pk: 'RATE#abc', sk: 'BUCKET' })).toBe('rate bucket');
    expect(kindOf({ pk: 'BATCHQ#abc', sk: 'gpt' })).toBe('batch queue');
  });
});
