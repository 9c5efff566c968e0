import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import type { LogEntry } from '../types.js';
import { jobRecordsQuery, keys } from './keys.js';
import type { Page, StoreTable } from './store-table.js';
import { TTL_ATTRIBUTE } from './table-schema.js';

/** Log entries outlive the job's records by this much. */
const LOG_EXTRA_TTL_DAYS = 2;

/** A job's log: entries in time order under its partition. */
export class LogRecords {
  constructor(private readonly table: StoreTable) {}

  async append(
    jobId: string,
    level: LogEntry['level'],
    message: string,
    data?: Record<string, unknown>,
  ): Promise<void> {
    const at = this.table.nowIso();
    const entry: LogEntry = { jobId, at, level, message, ...(data ? { data } : {}) };
    await this.table.dynamo.send(
      new PutCommand({
        TableName: this.table.name,
        // A short random suffix keeps two entries of the same millisecond apart.
        Item: {
          ...keys.log(jobId, at, randomUUID().slice(0, 8)),
          ...entry,
          [TTL_ATTRIBUTE]: this.table.ttlFromNow(LOG_EXTRA_TTL_DAYS),
        },
      }),
    );
  }

  list(jobId: string, options: { limit?: number; cursor?: string } = {}): Promise<Page<LogEntry>> {
    const query = jobRecordsQuery(jobId, keys.logPrefix);
    return this.table.queryPage<LogEntry>(
      {
        KeyConditionExpression: query.KeyConditionExpression,
        ExpressionAttributeValues: query.values,
        Limit: options.limit,
      },
      options.cursor,
    );
  }
}
