import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * The job table's physical schema, written once: the deployed table (infra/llm-batch-stack.ts),
 * the local one (local/services/dynamodb.ts) and the tests' (test/support/dynamo.ts) are all made
 * from it. A plain module (its one import is a type), so CDK code can read it too. What the keys
 * hold is in keys.ts.
 */
export const TABLE_KEY = { partition: 'pk', sort: 'sk' } as const;

/** The one secondary index: every job under one partition, by creation time, for listing jobs. */
export const JOBS_INDEX = { name: 'gsi1', partition: 'gsi1pk', sort: 'gsi1sk' } as const;

/** Epoch seconds after which DynamoDB deletes the record (not set on the local table: dynalite has no TTL). */
export const TTL_ATTRIBUTE = 'ttl';

/**
 * The job record's count of its items' partition keys (shared/store/item-shards.ts), fixed when
 * the job is created: a later default applies to new jobs only.
 */
export const ITEM_SHARDS_ATTRIBUTE = 'itemShards';

/** The attributes that place a record rather than describe it: a record read back is stripped of them. */
export const PLACEMENT_ATTRIBUTES: readonly string[] = [
  TABLE_KEY.partition,
  TABLE_KEY.sort,
  JOBS_INDEX.partition,
  JOBS_INDEX.sort,
  TTL_ATTRIBUTE,
  ITEM_SHARDS_ATTRIBUTE,
];

/** CreateTable for the local and test tables: on demand, string keys, the jobs index projecting everything. */
export function jobTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [TABLE_KEY.partition, TABLE_KEY.sort, JOBS_INDEX.partition, JOBS_INDEX.sort].map((name) => ({
      AttributeName: name,
      AttributeType: 'S',
    })),
    KeySchema: [
      { AttributeName: TABLE_KEY.partition, KeyType: 'HASH' },
      { AttributeName: TABLE_KEY.sort, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: JOBS_INDEX.name,
        KeySchema: [
          { AttributeName: JOBS_INDEX.partition, KeyType: 'HASH' },
          { AttributeName: JOBS_INDEX.sort, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  };
}
